import ChatClient
import ChatCore
import Glibc
import NIOSSL

/// The client's run loop: one thread polling the terminal (or stdin), the socket and the signal
/// pipe. All decisions are made by `ClientSession` and `LineEditor`; this type carries them out.
final class ClientLoop {
    private let address: HostAndPort
    /// With TLS: what to trust; every connection starts its handshake with it.
    private let tls: NIOSSLContext?
    private let interactive: Bool
    private var style: DisplayStyle
    private var session: ClientSession
    private var editor = LineEditor()
    private var inputLine = InputLine()
    private var decoder = KeyDecoder()
    private var width = 80
    private let signalFD: Int32

    private var connection: Connection?
    private var pending: (connection: Connection, rest: [addrinfo], deadline: Double)?
    private var lastError: ConnectionError?
    private var reconnectAt: Double?
    private var attempt = 0
    private var everConnected = false
    private var lastHeard = 0.0
    private var pingSent = false
    private var quitDeadline: Double?
    private var exitCode: Int32?
    private var suggestedNick = false
    /// When the key decoder started waiting for the rest of a sequence.
    private var pendingSince: Double?

    private var stdinOpen = true
    private var stdinBuffer: [UInt8] = []
    /// Output gathered during one turn of the loop, written at once (no flicker).
    private var screen: [UInt8] = []
    private var errors: [UInt8] = []
    private var inputDirty = false

    /// How long without a byte from the server before a `ping`, and before giving up on it.
    static let keepaliveSeconds = 60.0
    static let deadSeconds = 90.0
    static let connectTimeoutSeconds = 10.0

    init(address: HostAndPort, tls: NIOSSLContext? = nil, session: ClientSession, style: DisplayStyle, interactive: Bool) {
        self.address = address
        self.tls = tls
        self.session = session
        self.style = style
        self.interactive = interactive
        signalFD = Terminal.installSignalHandlers()
    }

    /// Runs until the user leaves; returns the exit status.
    func run() -> Int32 {
        if interactive {
            Terminal.enterRawMode()
            width = Terminal.width
        }
        if interactive { client("Connecting to \(address)…") }
        startConnecting()
        while exitCode == nil {
            flushOutput()
            turn()
        }
        flushOutput()
        if interactive {
            screen += Array(InputLine.erase.utf8)
            flushOutput()
            Terminal.restore()
        }
        return exitCode ?? 0
    }

    // MARK: One turn of the loop

    private func turn() {
        var fds: [pollfd] = [pollfd(fd: signalFD, events: Int16(POLLIN), revents: 0)]
        let wantsInput = stdinOpen && (interactive || (session.hasRoom && !hasBufferedLine))
        if wantsInput { fds.append(pollfd(fd: STDIN_FILENO, events: Int16(POLLIN), revents: 0)) }
        let socket = pending?.connection ?? connection
        if let socket {
            var events = Int16(POLLIN)
            if pending != nil || socket.wantsToWrite { events = Int16(POLLOUT) | (pending == nil ? Int16(POLLIN) : 0) }
            fds.append(pollfd(fd: socket.fd, events: events, revents: 0))
        }
        let ready = poll(&fds, nfds_t(fds.count), timeoutMilliseconds())
        if ready < 0 && errno != EINTR { fatal("poll failed: \(String(cString: strerror(errno)))") }
        let now = Self.now()
        for entry in fds where entry.revents != 0 {
            switch entry.fd {
            case signalFD: handleSignals()
            case STDIN_FILENO: readInput()
            default: socketReady(entry.revents)
            }
        }
        if !interactive { feedBufferedLines() }
        timers(now)
    }

    private func timeoutMilliseconds() -> Int32 {
        let now = Self.now()
        var deadline = Double.infinity
        if decoder.hasPending { deadline = (pendingSince ?? now) + 0.03 }
        if let reconnectAt { deadline = min(deadline, reconnectAt) }
        if let pending { deadline = min(deadline, pending.deadline) }
        if let quitDeadline { deadline = min(deadline, quitDeadline) }
        if connection != nil { deadline = min(deadline, lastHeard + (pingSent ? Self.deadSeconds : Self.keepaliveSeconds)) }
        guard deadline.isFinite else { return -1 }
        return Int32(max(0, min((deadline - now) * 1000 + 1, 3_600_000)))
    }

    private func timers(_ now: Double) {
        // A lone ESC (or a cut sequence) is given up after 30 ms of quiet.
        if decoder.hasPending {
            if let since = pendingSince, now - since >= 0.03, !hasStdinData() {
                pendingSince = nil
                handleKeys(decoder.flush())
            } else if pendingSince == nil {
                pendingSince = now
            }
        } else {
            pendingSince = nil
        }
        if let at = reconnectAt, now >= at {
            reconnectAt = nil
            startConnecting()
        }
        if let pending, now >= pending.deadline {
            self.pending = nil
            lastError = ConnectionError(message: "timed out")
            tryNext(pending.rest)
        }
        if let quitDeadline, now >= quitDeadline { exitCode = 0 }
        if connection != nil {
            if now - lastHeard >= Self.deadSeconds {
                lost(ConnectionError(message: "no answer from the server for \(Int(Self.deadSeconds)) seconds"))
            } else if now - lastHeard >= Self.keepaliveSeconds, !pingSent {
                pingSent = true
                apply(session.ping())
            }
        }
    }

    // MARK: Connecting

    private func startConnecting() {
        switch Connection.resolve(address) {
        case .failure(let error): unreachable(error)
        case .success(let addresses):
            lastError = nil
            tryNext(addresses)
        }
    }

    private func tryNext(_ addresses: [addrinfo]) {
        var rest = addresses
        while !rest.isEmpty {
            let info = rest.removeFirst()
            switch Connection.start(info) {
            case .success(let started):
                pending = (started, rest, Self.now() + Self.connectTimeoutSeconds)
                return
            case .failure(let error): lastError = error
            }
        }
        unreachable(lastError ?? ConnectionError(message: "no address to connect to"))
    }

    private func unreachable(_ error: ConnectionError) {
        if !everConnected {
            errors += Array("chat: cannot reach chatd at \(address): \(error).\n".utf8)
            if interactive { errors += Array("chat: is chatd running? Start it with `chatd`, or give HOST:PORT.\n".utf8) }
            exitCode = 69  // EX_UNAVAILABLE
            return
        }
        client("Cannot reach \(address): \(error).")
        scheduleReconnect()
    }

    private func socketReady(_ events: Int16) {
        if let pending {
            self.pending = nil
            if let error = pending.connection.connectResult() {
                lastError = error
                tryNext(pending.rest)
                return
            }
            if let tls, let error = pending.connection.startTLS(tls, host: address.host) {
                lost(error, connected: false)
                return
            }
            connection = pending.connection
            everConnected = true
            lastHeard = Self.now()
            pingSent = false
            apply(session.connected())
            return
        }
        guard let connection else { return }
        if events & Int16(POLLOUT) != 0, let error = connection.flush() {
            lost(error)
            return
        }
        guard events & Int16(POLLIN | POLLHUP | POLLERR) != 0 else { return }
        guard let (lines, error) = connection.read() else {
            lost(nil)
            return
        }
        if !lines.isEmpty {
            lastHeard = Self.now()
            pingSent = false
        }
        for line in lines { apply(session.received(line)) }
        if let error { lost(error) }
    }

    private func lost(_ error: ConnectionError?, connected: Bool = true) {
        connection = nil
        if let error, error.final {
            // Never a plaintext fallback, nor another try at a certificate that cannot be trusted.
            errors += Array("chat: no connection to \(address): \(error).\n".utf8)
            exitCode = 1
            return
        }
        guard connected else {
            unreachable(error ?? ConnectionError(message: "the connection failed"))
            return
        }
        let (effects, reconnect) = session.disconnected(reason: error?.description)
        apply(effects)
        if quitDeadline != nil || (!interactive && !stdinOpen) {
            exitCode = 0
        } else if !reconnect {
            exitCode = 1
        } else {
            scheduleReconnect()
        }
    }

    private func scheduleReconnect() {
        attempt += 1
        let base = min(30.0, Double(1 << min(attempt - 1, 5)))
        let delay = base * Double.random(in: 0.8...1.2)
        reconnectAt = Self.now() + delay
        client("Reconnecting in \(Int(delay.rounded())) s (attempt \(attempt)); Ctrl-C to give up.")
    }

    // MARK: Effects

    private func apply(_ effects: [ClientSession.Effect]) {
        for effect in effects {
            switch effect {
            case .send(let bytes):
                guard let connection else { continue }
                connection.send(bytes)
            case .show(let line):
                show(line)
            case .askNick:
                if interactive, editor.characters.isEmpty, !suggestedNick, let user = getenv("USER") {
                    suggestedNick = true
                    editor.setText(String(cString: user))
                }
                inputDirty = true
            case .promptChanged:
                if session.phase == .registered { attempt = 0 }
                inputDirty = true
            case .fail(let message):
                errors += Array("chat: \(message)\n".utf8)
                exitCode = 1
            }
        }
    }

    private func show(_ line: Display) {
        var line = line
        if line.time == nil, case .client = line.kind {
            // The client's own lines have the time they were said, like the server's.
            var now = timespec()
            clock_gettime(CLOCK_REALTIME, &now)
            line.time = Timestamp(milliseconds: Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000)
        }
        if interactive {
            screen += Array(InputLine.erase.utf8)
            for row in style.render(line, width: width) { screen += Array((row + "\r\n").utf8) }
            inputDirty = true
        } else if case .client = line.kind {
            errors += Array((style.render(line) + "\n").utf8)
        } else {
            screen += Array((style.render(line) + "\n").utf8)
        }
    }

    private func client(_ text: String) { show(Display(.client(text))) }

    private func fatal(_ message: String) {
        errors += Array("chat: \(message)\n".utf8)
        exitCode = 70
    }

    // MARK: Input

    private func hasStdinData() -> Bool {
        var entry = pollfd(fd: STDIN_FILENO, events: Int16(POLLIN), revents: 0)
        return poll(&entry, 1, 0) > 0
    }

    private var hasBufferedLine: Bool { stdinBuffer.contains(UInt8(ascii: "\n")) }

    private func readInput() {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = buffer.withUnsafeMutableBytes { read(STDIN_FILENO, $0.baseAddress, $0.count) }
        if count < 0 && (errno == EINTR || errno == EAGAIN) { return }
        guard count > 0 else {
            stdinOpen = false
            // A last line without a newline is still a line.
            if !stdinBuffer.isEmpty && stdinBuffer.last != UInt8(ascii: "\n") { stdinBuffer.append(UInt8(ascii: "\n")) }
            if interactive { leave() }
            return
        }
        if interactive {
            handleKeys(decoder.decode(buffer[0..<count]))
        } else {
            stdinBuffer += buffer[0..<count]
            feedBufferedLines()
        }
    }

    /// Non-interactive: hands piped lines to the session as the window allows; at the end of
    /// input, leaves once everything is sent.
    private func feedBufferedLines() {
        while session.hasRoom, let newline = stdinBuffer.firstIndex(of: UInt8(ascii: "\n")) {
            var line = Array(stdinBuffer[..<newline])
            if line.last == UInt8(ascii: "\r") { line.removeLast() }
            stdinBuffer.removeFirst(newline + 1)
            apply(session.typed(String(decoding: line, as: UTF8.self)))
        }
        if !stdinOpen, stdinBuffer.isEmpty, quitDeadline == nil, session.phase == .registered || session.phase == .disconnected {
            leave()
        }
    }

    private func handleKeys(_ keys: [Key]) {
        for key in keys {
            if key == .enter, !session.isReady {
                let state = session.phase == .disconnected ? "Not connected" : "Not registered yet"
                client("\(state): the line stays in the input; press Enter again in a moment.")
                continue
            }
            switch editor.apply(key, completions: { self.session.completions(for: $0, atLineStart: $1) }) {
            case .edited: inputDirty = true
            case .unchanged: break
            case .submit(let line):
                inputDirty = true
                apply(session.typed(line))
            case .endOfInput, .interrupt:
                if quitDeadline != nil { exitCode = 0 } else { leave() }
            case .redrawScreen:
                screen += Array("\u{1B}[H\u{1B}[2J".utf8)
                inputDirty = true
            case .suspend:
                flushOutput()
                Terminal.suspend()
                width = Terminal.width
                inputDirty = true
            }
        }
    }

    private func leave() {
        if connection != nil, session.phase != .disconnected, session.phase != .quitting {
            apply(session.quit())
            quitDeadline = Self.now() + 3
        } else {
            exitCode = 0
        }
    }

    private func handleSignals() {
        var bytes = [UInt8](repeating: 0, count: 64)
        let count = read(signalFD, &bytes, bytes.count)
        guard count > 0 else { return }
        for signal in bytes[0..<count].map(Int32.init) {
            switch signal {
            case SIGWINCH:
                width = Terminal.width
                inputDirty = true
            default:
                if quitDeadline != nil { exitCode = 0 } else { leave() }
            }
        }
    }

    // MARK: Output

    private func flushOutput() {
        if interactive && inputDirty && exitCode == nil {
            screen += Array(
                inputLine.render(
                    prompt: session.prompt, characters: editor.characters, cursor: editor.cursor, width: width,
                    style: { self.style.color ? "\u{1B}[1m\($0)\u{1B}[0m" : $0 }
                ).utf8)
            inputDirty = false
        }
        Self.writeAll(STDOUT_FILENO, &screen)
        Self.writeAll(STDERR_FILENO, &errors)
    }

    private static func writeAll(_ fd: Int32, _ bytes: inout [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                break
            }
            offset += written
        }
        bytes.removeAll(keepingCapacity: true)
    }

    static func now() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }
}
