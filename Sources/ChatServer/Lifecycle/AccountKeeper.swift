import ChatCore
import ChatStore
import NIOPosix

/// Carries out account work off the hub's lock and off the event loops: passwords are hashed on
/// a thread of their own (one, so that sign-ins queue rather than take the loops' cores, and at
/// most one scrypt's memory is in use), the store is read and written through the history writer
/// (accounts live in the history file).
final class AccountKeeper: Sendable {
    let history: HistoryWriter
    /// log2 of scrypt's N for new hashes (`accounts.scryptCost`).
    let cost: Int
    /// The one thread passwords are hashed on, started at the first use, for the process's life.
    private static let hashing: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        return pool
    }()
    private var pool: NIOThreadPool { Self.hashing }

    init(history: HistoryWriter, cost: Int) {
        self.history = history
        self.cost = cost
    }

    /// A new hash of `password`, on the hashing thread.
    func hash(_ password: Password) async throws -> String {
        let cost = self.cost
        return try await pool.runIfActive { try PasswordHash.make(password, cost: cost) }
    }

    /// Does `task` at `now`; never throws: a failing store is an outcome.
    func run(_ task: AccountTask, now: Timestamp) async -> AccountOutcome {
        let cost = self.cost
        do {
            switch task.kind {
            case .create(let name, let password):
                let hash = try await pool.runIfActive { try PasswordHash.make(password, cost: cost) }
                let account = AccountRecord(key: task.key, name: name, passwordHash: hash, createdAt: now)
                let created = try await history.withStore { try await $0.createAccount(account) }
                return created ? .done(name: name) : .exists
            case .verify(let password, let then):
                guard let account = try await history.withStore({ try await $0.account(key: task.key) }) else { return .noSuchAccount }
                let matches = try await pool.runIfActive { PasswordHash.verify(password, against: account.passwordHash) }
                guard matches else { return .wrongPassword }
                switch then {
                case .signIn:
                    break
                case .changePassword(let new):
                    let hash = try await pool.runIfActive { try PasswordHash.make(new, cost: cost) }
                    try await history.withStore { try await $0.setPasswordHash(key: task.key, hash: hash) }
                case .drop:
                    try await history.withStore { try await $0.dropAccount(key: task.key) }
                }
                return .done(name: account.name)
            }
        } catch {
            return .unavailable("the store failed")
        }
    }
}
