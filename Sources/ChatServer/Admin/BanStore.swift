import ChatCore
import Foundation

/// The ban list's file (`bans.json` in the state directory): read at start, rewritten
/// atomically (a temporary file renamed over it) after every change.
struct BanStore: Sendable {
    let path: String

    init(stateDirectory: String) {
        path = stateDirectory + "/bans.json"
    }

    /// The saved bans (none when there is no file yet), and any entries that could not be read.
    func load() -> (BanList, problems: [String]) {
        guard let data = FileManager.default.contents(atPath: path) else { return (BanList(), []) }
        return BanList.load(String(decoding: data, as: UTF8.self))
    }

    func save(_ list: BanList) throws {
        let directory = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(
            atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o750])
        let temporary = path + ".tmp"
        guard
            FileManager.default.createFile(
                atPath: temporary, contents: Data(list.fileContents.utf8), attributes: [.posixPermissions: 0o640])
        else {
            throw StartupError("cannot write \(temporary)")
        }
        guard rename(temporary, path) == 0 else { throw StartupError("cannot replace \(path): \(String(cString: strerror(errno)))") }
    }
}
