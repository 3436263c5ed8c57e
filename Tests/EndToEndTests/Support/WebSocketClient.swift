import ChatCore
import Foundation

/// A WebSocket client written out by hand over a blocking socket, so tests control every byte:
/// the handshake's headers, masking, fragmentation, opcodes and sizes, including the malformed
/// ones a library client would refuse to send.
final class WebSocketClient {
    let tcp: Client
    /// The handshake response's status line and headers.
    let status: String
    let headers: [String: String]

    enum Opcode: UInt8 {
        case continuation = 0, text = 1, binary = 2, close = 8, ping = 9, pong = 10
    }

    struct Frame {
        var fin: Bool
        var opcode: UInt8
        var payload: [UInt8]
        var text: String { String(decoding: payload, as: UTF8.self) }
    }

    /// Connects (from `source`, a loopback address) and asks to upgrade `path`, with `headers`
    /// added; `status` says whether it did (101) or why not.
    init(
        port: Int, path: String = "/ws", origin: String? = nil, host: String? = nil, source: String? = nil,
        headers extra: [String] = []
    ) throws {
        tcp = try Client(port: port, source: source)
        var request = "GET \(path) HTTP/1.1\r\nHost: \(host ?? "127.0.0.1:\(port)")\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        request += "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        if let origin { request += "Origin: \(origin)\r\n" }
        for header in extra { request += header + "\r\n" }
        try tcp.send(request + "\r\n")
        guard let first = try tcp.readLine() else { throw TestFailure("closed before the handshake's answer") }
        status = first
        var headers: [String: String] = [:]
        while let line = try tcp.readLine(), !line.isEmpty {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        self.headers = headers
    }

    var upgraded: Bool { status.hasPrefix("HTTP/1.1 101") }

    /// Sends one frame; clients mask their frames unless a test says otherwise.
    func send(_ opcode: Opcode, _ payload: [UInt8], fin: Bool = true, masked: Bool = true) throws {
        var frame: [UInt8] = [(fin ? 0x80 : 0) | opcode.rawValue]
        let mask: UInt8 = masked ? 0x80 : 0
        switch payload.count {
        case ..<126: frame.append(mask | UInt8(payload.count))
        case ..<65536: frame += [mask | 126, UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
        default: frame += [mask | 127] + (0..<8).reversed().map { UInt8((payload.count >> ($0 * 8)) & 0xFF) }
        }
        if masked {
            let key: [UInt8] = [0x37, 0xFA, 0x21, 0x3D]
            frame += key
            frame += payload.enumerated().map { $0.element ^ key[$0.offset % 4] }
        } else {
            frame += payload
        }
        try tcp.send(frame)
    }

    func send(text: String) throws { try send(.text, Array(text.utf8)) }

    /// The next frame from the server, or nil when the connection closed.
    func readFrame(timeout: Double = 10) throws -> Frame? {
        guard let header = try tcp.readBytes(2, timeout: timeout) else { return nil }
        var length = Int(header[1] & 0x7F)
        if length == 126 {
            guard let bytes = try tcp.readBytes(2) else { return nil }
            length = Int(bytes[0]) << 8 | Int(bytes[1])
        } else if length == 127 {
            guard let bytes = try tcp.readBytes(8) else { return nil }
            length = bytes.reduce(0) { $0 << 8 | Int($1) }
        }
        // RFC 6455 5.1: a server never masks its frames.
        guard header[1] & 0x80 == 0 else { throw TestFailure("the server sent a masked frame") }
        guard let payload = try tcp.readBytes(length) else { return nil }
        return Frame(fin: header[0] & 0x80 != 0, opcode: header[0] & 0x0F, payload: payload)
    }

    /// Reads text messages (answering pings) until a JSON event of `type` that satisfies `match`.
    @discardableResult
    func expectJSON(type: String, timeout: Double = 10, where match: (JSONObject) -> Bool = { _ in true }) throws -> JSONObject {
        let deadline = Date().addingTimeInterval(timeout)
        var seen: [String] = []
        while true {
            guard let frame = try readFrame(timeout: max(0.01, deadline.timeIntervalSinceNow)) else {
                throw TestFailure("closed while waiting for a \(type) event; got \(seen)")
            }
            switch frame.opcode {
            case Opcode.ping.rawValue: try send(.pong, frame.payload)
            case Opcode.text.rawValue:
                seen.append(frame.text)
                if case .object(let object)? = try? JSONValue.parse(frame.text), object.string("type") == type, match(object) {
                    return object
                }
            case Opcode.close.rawValue:
                throw TestFailure("closed (\(Self.closeCode(frame))) while waiting for a \(type) event; got \(seen)")
            default: break
            }
        }
    }

    /// Reads until the server's close frame; returns its code and reason.
    func expectClose(timeout: Double = 10) throws -> (code: Int, reason: String) {
        let deadline = Date().addingTimeInterval(timeout)
        while let frame = try readFrame(timeout: max(0.01, deadline.timeIntervalSinceNow)) {
            if frame.opcode == Opcode.close.rawValue { return Self.closeCode(frame) }
        }
        throw TestFailure("the connection closed without a close frame")
    }

    static func closeCode(_ frame: Frame) -> (code: Int, reason: String) {
        guard frame.payload.count >= 2 else { return (1005, "") }
        return (Int(frame.payload[0]) << 8 | Int(frame.payload[1]), String(decoding: frame.payload.dropFirst(2), as: UTF8.self))
    }

    /// Says hello with `nick` and waits for the welcome.
    func register(_ nick: String) throws {
        try expectJSON(type: "hello")
        try send(text: #"{"type":"hello","nick":"\#(nick)","id":"h"}"#)
        try expectJSON(type: "welcome")
    }
}
