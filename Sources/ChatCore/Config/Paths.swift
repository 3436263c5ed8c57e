/// Where chatd's files go when the config leaves them empty: decided from the environment
/// (passed in, so this stays pure and testable) the way systemd services expect.
public enum Paths {
    /// The admin socket: `$RUNTIME_DIRECTORY/admin.sock` under systemd (RuntimeDirectory=chatd),
    /// `/run/chatd/admin.sock` for root, else `$XDG_RUNTIME_DIR/chatd/admin.sock`, else
    /// `/tmp/chatd-UID/admin.sock`. chatctl resolves it the same way.
    public static func adminSocket(configured: String, environment: [String: String], uid: UInt32) -> String {
        if !configured.isEmpty { return configured }
        if let runtime = firstDirectory(environment["RUNTIME_DIRECTORY"]) { return runtime + "/admin.sock" }
        if uid == 0 { return "/run/chatd/admin.sock" }
        if let xdg = environment["XDG_RUNTIME_DIR"], xdg.hasPrefix("/") { return xdg + "/chatd/admin.sock" }
        return "/tmp/chatd-\(uid)/admin.sock"
    }

    /// The state directory: `$STATE_DIRECTORY` under systemd (StateDirectory=chatd),
    /// `/var/lib/chatd` for root, else `$XDG_STATE_HOME/chatd` or `~/.local/state/chatd`.
    public static func stateDirectory(configured: String, environment: [String: String], uid: UInt32) -> String {
        if !configured.isEmpty { return configured }
        if let state = firstDirectory(environment["STATE_DIRECTORY"]) { return state }
        if uid == 0 { return "/var/lib/chatd" }
        if let xdg = environment["XDG_STATE_HOME"], xdg.hasPrefix("/") { return xdg + "/chatd" }
        if let home = environment["HOME"], home.hasPrefix("/") { return home + "/.local/state/chatd" }
        return "/tmp/chatd-\(uid)/state"
    }

    /// The history file: `history.path`, else `history.db` in the state directory.
    public static func history(configured: String, stateDirectory: String) -> String {
        configured.isEmpty ? stateDirectory + "/history.db" : configured
    }

    /// Why the admin socket must not live in a directory, if it must not, as tmux and
    /// ssh-agent judge theirs: whoever may write to the directory may replace the socket, take
    /// the operator's requests and answer them. It must be a real directory (not a link), owned
    /// by `uid` (chatd's user) or root, and writable by nobody else. `mode` is `st_mode`.
    public static func unsafeSocketDirectory(_ path: String, owner: UInt32, mode: UInt32, uid: UInt32) -> String? {
        let octal = String(mode & 0o7777, radix: 8)
        if mode & 0o170000 != 0o040000 { return "\(path) is not a directory" }
        if owner != uid && owner != 0 { return "\(path) belongs to another user (uid \(owner)), who could replace the socket" }
        if mode & 0o022 != 0 { return "\(path) may be written by others (mode \(octal)), who could replace the socket" }
        return nil
    }

    /// The admin socket's path when nothing else decides: per user under /tmp, where another
    /// user may have made the directory first (so chatctl checks it too).
    public static func isFallbackAdminSocket(_ path: String, uid: UInt32) -> Bool {
        path == "/tmp/chatd-\(uid)/admin.sock"
    }

    /// systemd passes several directories colon-separated; the first is ours.
    private static func firstDirectory(_ value: String?) -> String? {
        guard let first = value?.split(separator: ":").first, first.hasPrefix("/") else { return nil }
        return String(first)
    }
}
