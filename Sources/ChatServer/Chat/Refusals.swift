import ChatCore
import Logging
import NIOCore

/// How refusals are counted and told, at the edge (ChatCore only names them: `Refusal`).
extension Shard {
    /// Counts a refused connection on this loop and logs it, at most once per reason every 10 s.
    func countRefusal(_ reason: Refusal, hub: Hub, logger: Logger, peer: String, session: SessionID? = nil, kind: String? = nil) {
        counters.refused[reason.rawValue, default: 0] += 1
        if let suppressed = hub.refusalLog.shouldLog(reason.rawValue) {
            var metadata: Logger.Metadata = ["reason": "\(reason)", "peer": "\(peer)", "alsoRefusedSinceLastLog": "\(suppressed)"]
            if let session { metadata["session"] = "\(session)" }
            if let kind { metadata["kind"] = "\(kind)" }
            logger.info("connection refused", metadata: metadata)
        }
    }
}

/// Where the web client is served, named to a browser that reached the chat port.
struct WebPort: Sendable {
    var port: Int
    /// HTTPS (only `web.tlsListen` serves it).
    var secure: Bool
}

extension Refusal {
    /// The last thing a refused client is sent, in its dialect (nil when nothing useful can be
    /// said: it does not speak text). `event` numbers a `bye`.
    func goodbye(_ message: String, dialect: DialectID, webPort: WebPort?, event: (Event.Kind) -> Event) -> ByteBuffer? {
        switch self {
        case .notText: nil
        case .http: ByteBuffer(string: Self.httpResponse(webPort: webPort))
        default: ByteBuffer(bytes: dialect.dialect.renderRefusal(event(.bye(reason: message, code: byeCode))))
        }
    }

    /// What a browser (or any HTTP client) pointed at the chat port gets: where to go instead.
    static func httpResponse(webPort: WebPort?) -> String {
        var body = "This is a chatd chat port: it speaks a line protocol, not HTTP.\r\n"
        body += "Connect with the chat client, telnet or nc (telnet HOST PORT).\r\n"
        if let web = webPort {
            let scheme = web.secure ? "https" : "http"
            body += "For the web client, open port \(web.port) in your browser: \(scheme)://HOST:\(web.port)/\r\n"
        }
        return "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: \(body.utf8.count)\r\n"
            + "Connection: close\r\n\r\n" + body
    }
}
