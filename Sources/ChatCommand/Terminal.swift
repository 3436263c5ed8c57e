import Glibc

/// The terminal's settings before raw mode, kept where a signal handler can reach them: the
/// terminal is restored on every way out, a crash included.
nonisolated(unsafe) private var savedSettings = termios()
nonisolated(unsafe) private var rawModeActive: sig_atomic_t = 0
/// The write end of the self-pipe that turns signals into bytes for the run loop.
nonisolated(unsafe) var signalPipeWrite: Int32 = -1

/// Restores the terminal. Async-signal-safe: only `tcsetattr` and `write`.
private func restoreTerminalNow() {
    guard rawModeActive != 0 else { return }
    rawModeActive = 0
    _ = tcsetattr(STDIN_FILENO, TCSAFLUSH, &savedSettings)
    let reset: StaticString = "\r\n\u{1B}[0m"
    _ = write(STDOUT_FILENO, reset.utf8Start, reset.utf8CodeUnitCount)
}

/// The owner of the terminal in interactive mode: raw mode on and off, its width, and the
/// signals that concern it.
enum Terminal {
    static var isInteractive: Bool { isatty(STDIN_FILENO) == 1 && isatty(STDOUT_FILENO) == 1 }
    static var stdoutIsTerminal: Bool { isatty(STDOUT_FILENO) == 1 }

    /// Keys arrive one by one and unechoed, Ctrl-C/Ctrl-Z/Ctrl-S reach the client as keys;
    /// output processing stays on.
    static func enterRawMode() {
        if rawModeActive == 0 { _ = tcgetattr(STDIN_FILENO, &savedSettings) }
        var raw = savedSettings
        raw.c_iflag &= ~tcflag_t(ICRNL | INLCR | IGNCR | IXON | ISTRIP | BRKINT | INPCK)
        raw.c_lflag &= ~tcflag_t(ECHO | ICANON | ISIG | IEXTEN)
        raw.c_cflag |= tcflag_t(CS8)
        withUnsafeMutableBytes(of: &raw.c_cc) { cc in
            cc[Int(VMIN)] = 1
            cc[Int(VTIME)] = 0
        }
        _ = tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw)
        rawModeActive = 1
    }

    static func restore() { restoreTerminalNow() }

    static var width: Int {
        var size = winsize()
        guard ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 else { return 80 }
        return Int(size.ws_col)
    }

    /// Ctrl-Z: give the terminal back, stop, and take it again when continued (`fg`).
    static func suspend() {
        restore()
        _ = kill(0, SIGTSTP)
        enterRawMode()
    }

    /// Routes SIGWINCH, SIGTERM, SIGHUP, SIGINT and SIGQUIT to the self-pipe, and restores the
    /// terminal on crash signals before letting them take their course. Returns the read end.
    static func installSignalHandlers() -> Int32 {
        var fds: [Int32] = [0, 0]
        _ = pipe(&fds)
        for fd in fds {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
        signalPipeWrite = fds[1]
        for signal in [SIGWINCH, SIGTERM, SIGHUP, SIGINT, SIGQUIT] {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { number in
                var byte = UInt8(truncatingIfNeeded: number)
                _ = write(signalPipeWrite, &byte, 1)
            }
            action.sa_flags = SA_RESTART
            _ = sigaction(signal, &action, nil)
        }
        _ = signal(SIGPIPE, SIG_IGN)
        // A crash: give the terminal back, then let the signal take its default course (the
        // handler is reset first, and the signal is raised again when the handler returns).
        for crash in [SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGABRT] {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { number in
                restoreTerminalNow()
                _ = raise(number)
            }
            action.sa_flags = Int32(bitPattern: UInt32(SA_RESETHAND))
            _ = sigaction(crash, &action, nil)
        }
        atexit { restoreTerminalNow() }
        return fds[0]
    }
}
