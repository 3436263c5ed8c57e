import ChatCore
import NIOCore
import NIOHTTP1

/// Serves the browser client over HTTP: the page, its script and style (embedded in the binary),
/// and a proper error for anything else. `/ws` requests that pass the Origin check are taken by
/// the WebSocket upgrader before they get here; what reaches `/ws` here is refused, with why.
final class WebHTTPHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let allowedOrigins: [String]
    private let hostNames: Set<String>
    private var request: HTTPRequestHead?
    /// Served over TLS (`web.tlsListen`): responses tell browsers to come back only that way.
    private let secure: Bool

    init(web: Config.Web, secure: Bool = false) {
        self.allowedOrigins = web.allowedOrigins
        self.hostNames = web.hostNames
        self.secure = secure
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): request = head
        case .body: break  // nothing here takes a body; it is read and dropped
        case .end:
            guard let head = request else { return }
            request = nil
            respond(to: head, context)
        }
    }

    /// A request that cannot be parsed got its `400` from NIO's error handler, which leaves
    /// the closing to the pipeline: close, rather than read whatever else the client sends.
    /// (A refused WebSocket upgrade is reported here too, but its request comes on to
    /// `respond`, which says why.)
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if error is HTTPParserError { context.close(promise: nil) }
    }

    private func respond(to head: HTTPRequestHead, _ context: ChannelHandlerContext) {
        let path = String(head.uri.prefix { $0 != "?" && $0 != "#" })
        let host = head.headers.first(name: "Host")
        guard WebOrigin.allows(host: host, names: hostNames) else {
            let named = String((host ?? "").prefix(200))
            return send(
                .misdirectedRequest, text: "This server is not reached by the name \(named) (web.allowedHosts).\n", extra: [], head, context
            )
        }
        guard head.method == .GET || head.method == .HEAD else {
            return send(.methodNotAllowed, text: "Only GET and HEAD are served here.\n", extra: [("Allow", "GET, HEAD")], head, context)
        }
        if path == "/ws" {
            let origin = head.headers.first(name: "Origin")
            if !WebOrigin.allows(origin: origin, host: head.headers.first(name: "Host"), allowed: allowedOrigins) {
                return send(
                    .forbidden, text: "WebSocket connections from \(origin ?? "this origin") are not allowed (web.allowedOrigins).\n",
                    extra: [], head, context)
            }
            return send(
                .upgradeRequired, text: "This is chatd's WebSocket endpoint: connect with a WebSocket client.\n",
                extra: [("Upgrade", "websocket"), ("Connection", "Upgrade")], head, context)
        }
        guard let asset = WebAsset.named[path == "/" ? "/index.html" : path] else {
            return send(.notFound, text: "Not found: \(path.prefix(200))\n", extra: [], head, context)
        }
        send(.ok, type: asset.contentType, body: asset.bytes, extra: [("Cache-Control", "no-cache")], head, context)
    }

    private func send(
        _ status: HTTPResponseStatus, text: String, extra: [(String, String)], _ head: HTTPRequestHead, _ context: ChannelHandlerContext
    ) {
        send(status, type: "text/plain; charset=utf-8", body: Array(text.utf8), extra: extra, head, context)
    }

    private func send(
        _ status: HTTPResponseStatus, type: String, body: [UInt8], extra: [(String, String)], _ head: HTTPRequestHead,
        _ context: ChannelHandlerContext
    ) {
        Self.send(status, type: type, body: body, extra: extra, secure: secure, head, context)
    }

    /// Writes a response to `head` (with the security headers; HSTS when `secure`), then closes
    /// the connection after an error or when the client asked to. For any handler between the
    /// HTTP codec and this one.
    static func send(
        _ status: HTTPResponseStatus, type: String = "text/plain; charset=utf-8", body: [UInt8], extra: [(String, String)],
        secure: Bool, _ head: HTTPRequestHead, _ context: ChannelHandlerContext
    ) {
        var headers = HTTPHeaders(securityHeaders + extra)
        // HSTS, over HTTPS only (RFC 6797 has browsers ignore it over plain HTTP): a year.
        if secure { headers.add(name: "Strict-Transport-Security", value: "max-age=31536000") }
        headers.add(name: "Content-Type", value: type)
        headers.add(name: "Content-Length", value: String(body.count))
        let keepAlive = head.isKeepAlive && status.code < 400
        headers.add(name: "Connection", value: keepAlive ? "keep-alive" : "close")
        let response = HTTPResponseHead(version: head.version, status: status, headers: headers)
        context.write(NIOAny(HTTPServerResponsePart.head(response)), promise: nil)
        if head.method != .HEAD {
            context.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
        }
        let done = context.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil)))
        if !keepAlive { done.assumeIsolated().whenComplete { _ in context.close(promise: nil) } }
    }

    /// Sent with every response. The page loads only its own script and style, connects only
    /// back to its own origin, may not be framed, and leaks no referrer.
    static let securityHeaders: [(String, String)] = [
        (
            "Content-Security-Policy",
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
                + "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        ),
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "DENY"),
        ("Referrer-Policy", "no-referrer"),
        ("Cross-Origin-Opener-Policy", "same-origin"),
        ("Cross-Origin-Resource-Policy", "same-origin"),
        ("Server", "chatd/\(ChatServerInfo.version)"),
    ]
}

@available(*, unavailable)
extension WebHTTPHandler: Sendable {}

/// One file of the web client, embedded in the binary at build time (`Web/Assets`).
struct WebAsset: Sendable {
    let contentType: String
    let bytes: [UInt8]

    /// The files by URL path.
    static let named: [String: WebAsset] = {
        var assets: [String: WebAsset] = [:]
        for (name, text) in EmbeddedWebAssets.files {
            let type: String
            switch name.split(separator: ".").last {
            case "html": type = "text/html; charset=utf-8"
            case "js": type = "text/javascript; charset=utf-8"
            case "css": type = "text/css; charset=utf-8"
            case "svg": type = "image/svg+xml"
            default: type = "application/octet-stream"
            }
            assets["/" + name] = WebAsset(contentType: type, bytes: Array(text.utf8))
        }
        return assets
    }()
}
