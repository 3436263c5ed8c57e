import ChatCore
import Logging
import NIOCore
import NIOEmbedded
import NIOWebSocket
import Testing

@testable import ChatServer

/// One event loop's share of a server, on NIO's `EmbeddedEventLoop`: a hub with one shard, and
/// connections as `EmbeddedChannel`s with the real handlers. Nothing runs until the test says so
/// (`settle`), so each step's output can be read exactly.
struct EmbeddedServer {
    let loop = EmbeddedEventLoop()
    let hub: Hub
    let shard: Shard
    let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }

    init(_ config: Config = Config()) {
        shard = Shard(index: 0, eventLoop: loop)
        hub = Hub(shards: [shard], settings: ConnectionSettings(config), defaultRoom: config.defaultRoomName)
    }

    /// A TCP chat connection from 127.0.0.1, active.
    func connect() throws -> EmbeddedChannel {
        let channel = EmbeddedChannel(loop: loop)
        try channel.pipeline.syncOperations.addHandler(ChatConnectionHandler(hub: hub, shard: shard, channel: channel, logger: logger))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 40000)).wait()
        return channel
    }

    /// Runs what the shard's mailbox and the handlers have queued.
    func settle() { loop.run() }
}

extension EmbeddedChannel {
    /// Sends bytes as the client.
    func send(_ text: String) throws {
        try writeInbound(ByteBuffer(string: text))
    }

    /// Everything written to the client so far, as text, split into lines.
    func received() throws -> [String] {
        var text = ""
        while let buffer = try readOutbound(as: ByteBuffer.self) { text += String(buffer: buffer) }
        return text.split(whereSeparator: \.isNewline).map(String.init)
    }
}

@Suite("the connection handler, on EmbeddedChannel")
struct ConnectionHandlerTests {
    @Test("a text client that speaks first is greeted, registered and told of its join, through its shard's mailbox")
    func textClient() throws {
        let server = EmbeddedServer()
        let alice = try server.connect()
        try alice.send("alice\r\n")
        #expect(try alice.received().isEmpty, "replies wait for the shard's drain")
        server.settle()
        #expect(
            try alice.received() == [
                "*** Welcome to chatd (chatd \(ChatServerInfo.version)).",
                "*** Welcome! Type to talk to your room; /help lists the commands.",
                "*** Please choose a nickname:", "*** You are now known as alice, talking in #lobby. Type /help for the commands.",
                "*** alice has joined #lobby", "*** #lobby (1 user): alice",
            ])
        try alice.send("/whois alice\r\n")
        server.settle()
        let whois = try alice.received()
        #expect(whois.count == 1 && whois[0].hasPrefix("*** alice: in #lobby; connected since ") && whois[0].hasSuffix("client line"))
    }

    @Test("the drain renders each message once per dialect present: JSON members get JSON, the text sender nothing")
    func fanOutByDialect() throws {
        let server = EmbeddedServer()
        let alice = try server.connect()
        try alice.send("alice\r\n")
        let bot = try server.connect()
        try bot.send(#"{"type":"hello","nick":"bot"}"# + "\n")
        server.settle()
        _ = try alice.received()
        let greeting = try bot.received()
        #expect(greeting.first?.hasPrefix(#"{"type":"hello""#) == true, "a JSON client is greeted in JSON, with no text first")

        try alice.send("hi bot\r\n")
        try bot.send(#"{"type":"message","text":"hi alice","id":"m1"}"# + "\n")
        server.settle()
        let toBot = try bot.received().compactMap { try? JSONValue.parse($0).objectValue }
        #expect(toBot.map { $0.string("text") } == ["hi bot", "hi alice"])
        #expect(toBot[0]["re"] == nil && toBot[1]["re"] == .string("m1"), "only the asker sees its request's id")
        #expect(try alice.received() == ["<bot> hi alice"], "a text sender is not echoed its own line")
        #expect(server.shard.counters.linesOut >= 4)
    }

    @Test("a TLS hello on the chat port closes the connection after the life's step, counted as not_text")
    func notText() throws {
        let server = EmbeddedServer()
        let channel = try server.connect()
        try channel.writeInbound(ByteBuffer(bytes: [0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xFC, 0x03, 0x03]))
        server.settle()
        #expect(!channel.isActive)
        #expect(try channel.received().isEmpty)
        #expect(server.shard.counters.refused["not_text"] == 1)
    }

    @Test("/quit says goodbye after what was queued, then closes")
    func quit() throws {
        let server = EmbeddedServer()
        let alice = try server.connect()
        try alice.send("alice\r\n/quit gone\r\n")
        server.settle()
        let lines = try alice.received()
        #expect(lines.last == "*** Closing connection: Quit: gone")
        #expect(lines.contains("*** alice has joined #lobby"))
        #expect(!alice.isActive)
    }

    @Test("the WebSocket adapter carries JSON lines as text frames, greeting at once")
    func webSocket() throws {
        let server = EmbeddedServer()
        let channel = EmbeddedChannel(loop: server.loop)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 40001)).wait()
        try channel.pipeline.syncOperations.addHandler(
            WebSocketChatAdapter(maxMessageBytes: 2048, pingIntervalSeconds: 30, pingTimeoutSeconds: 30))
        try channel.pipeline.syncOperations.addHandler(
            ChatConnectionHandler(hub: server.hub, shard: server.shard, channel: channel, logger: server.logger, listener: .web))
        server.settle()
        let hello = #"{"type":"hello","nick":"web","client":"web"}"#
        // A client's frames are masked (RFC 6455 5.3); an unmasked one is a protocol error.
        let key = WebSocketMaskingKey([7, 1, 8, 2])!
        var data = ByteBuffer(string: hello)
        data.webSocketMask(key)
        try channel.writeInbound(WebSocketFrame(fin: true, opcode: .text, maskKey: key, data: data))
        server.settle()
        var types: [String] = []
        while let frame = try channel.readOutbound(as: WebSocketFrame.self) {
            #expect(frame.opcode == .text)
            for line in String(buffer: frame.unmaskedData).split(whereSeparator: \.isNewline) {
                types.append((try? JSONValue.parse(String(line)).objectValue?.string("type")) ?? nil ?? "?")
            }
        }
        #expect(types == ["hello", "welcome", "join", "who"])
    }
}
