import Foundation
import Glibc

/// A TCP relay between a client and chatd that the test can cut: `cut()` drops every
/// connection through it and stops listening, so the client sees a drop and its reconnections
/// are refused; `resume()` listens again on the same port. A few lines of Python (threads and
/// sockets), run as a child, told by signals.
final class CuttingProxy {
    let port: Int
    private let process: ChildProcess
    private let output = LogBuffer()

    static let script = """
        import signal, socket, sys, threading
        port, target = int(sys.argv[1]), int(sys.argv[2])
        lock, conns, state = threading.Lock(), [], {}
        def pump(a, b):
            try:
                while True:
                    data = a.recv(65536)
                    if not data: break
                    b.sendall(data)
            except OSError: pass
            for s in (a, b):
                try: s.shutdown(socket.SHUT_RDWR)
                except OSError: pass
        def serve(server):
            while True:
                try: client, _ = server.accept()
                except OSError: return
                upstream = socket.create_connection(("127.0.0.1", target))
                with lock: conns.extend([client, upstream])
                threading.Thread(target=pump, args=(client, upstream), daemon=True).start()
                threading.Thread(target=pump, args=(upstream, client), daemon=True).start()
        def listen(*_):
            server = socket.socket()
            server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            server.bind(("127.0.0.1", port))
            server.listen(16)
            state["server"] = server
            threading.Thread(target=serve, args=(server,), daemon=True).start()
            print("listening", flush=True)
        def cut(*_):
            server = state.pop("server")
            server.shutdown(socket.SHUT_RDWR)
            server.close()
            with lock:
                for s in conns:
                    try: s.shutdown(socket.SHUT_RDWR)
                    except OSError: pass
                conns.clear()
            print("cut", flush=True)
        signal.signal(signal.SIGUSR1, cut)
        signal.signal(signal.SIGUSR2, listen)
        listen()
        while True: signal.pause()
        """

    /// Relays connections to `target` (a chat port on 127.0.0.1).
    init(to target: Int) throws {
        port = try freeLoopbackPort()
        process = try ChildProcess(
            ["/usr/bin/python3", "-c", Self.script, String(port), String(target)], environment: ProcessInfo.processInfo.environment,
            output: output)
        try waitFor("listening", count: 1)
    }

    func cut() throws {
        kill(process.pid, SIGUSR1)
        try waitFor("cut", count: 1)
    }

    func resume() throws {
        kill(process.pid, SIGUSR2)
        try waitFor("listening", count: 2)
    }

    /// Waits until the relay has said `word` `count` times.
    private func waitFor(_ word: String, count: Int) throws {
        let deadline = Date().addingTimeInterval(10)
        while output.text.components(separatedBy: word + "\n").count - 1 < count {
            if Date() > deadline { throw TestFailure("the relay never said \(word): \(output.text)") }
            output.waitForMore(until: Date().addingTimeInterval(0.1))
        }
    }

    deinit { kill(process.pid, SIGKILL) }
}
