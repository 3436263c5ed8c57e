import ChatCore
import Foundation
import Logging
import Testing

@testable import ChatStore

@Suite("accounts in the store, and their password hashes")
struct AccountStoreTests {
    let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }

    @Test("a hash verifies its own password only; it carries its parameters and a fresh salt; a broken one matches nothing")
    func hashes() throws {
        let hash = try PasswordHash.make(Password("correct horse"), cost: 10)
        #expect(hash.hasPrefix("scrypt$10$8$1$"))
        #expect(PasswordHash.verify(Password("correct horse"), against: hash))
        #expect(!PasswordHash.verify(Password("correct horsE"), against: hash))
        #expect(!PasswordHash.verify(Password(""), against: hash))
        #expect(try PasswordHash.make(Password("correct horse"), cost: 10) != hash, "each hash has its own salt")
        for broken in ["", "scrypt$10$8$1$zz$00", "bcrypt$10$8$1$00$00", String(hash.dropLast(2)) + "x", "scrypt$99$8$1$00$00"] {
            #expect(!PasswordHash.verify(Password("correct horse"), against: broken), "\(broken)")
        }
        // RFC 7914's second test vector: the derivation is scrypt itself.
        let vector =
            "scrypt$10$8$16$4e61436c$fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b3731622eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640"
        #expect(PasswordHash.verify(Password("password"), against: vector))
    }

    @Test("accounts are created once, found by key, changed, dropped, listed, and survive reopening")
    func store() async throws {
        let dir = NSTemporaryDirectory() + "chatd-accounts-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try await SQLiteHistoryStore.open(path: dir + "/history.db", logger: logger)
        let alice = AccountRecord(key: "alice", name: "Alice", passwordHash: "h1", createdAt: Timestamp(milliseconds: 5))
        #expect(try await store.createAccount(alice))
        #expect(
            try await store.createAccount(AccountRecord(key: "alice", name: "ALICE", passwordHash: "h2", createdAt: alice.createdAt))
                == false)
        #expect(try await store.account(key: "alice") == alice)
        #expect(try await store.account(key: "bob") == nil)
        try await store.setPasswordHash(key: "alice", hash: "h3")
        #expect(try await store.account(key: "alice")?.passwordHash == "h3")
        #expect(try await store.createAccount(AccountRecord(key: "bob", name: "bob", passwordHash: "h", createdAt: alice.createdAt)))
        try await store.close()
        let reopened = try await SQLiteHistoryStore.open(path: dir + "/history.db", logger: logger)
        #expect(try await reopened.accountNames() == ["Alice", "bob"])
        try await reopened.dropAccount(key: "alice")
        #expect(try await reopened.accountNames() == ["bob"])
        try await reopened.close()
    }
}
