import ChatCore
import Crypto
import CryptoExtras

/// Account passwords, hashed with scrypt (RFC 7914, swift-crypto's BoringSSL implementation):
/// memory-hard, so that a stolen store is slow to guess at on any hardware. Encoded with its
/// parameters and salt, so that the cost can be raised later without breaking older hashes:
/// `scrypt$<log2 N>$<r>$<p>$<salt, hex>$<hash, hex>`.
public enum PasswordHash {
    /// log2 of scrypt's N: 2^15 with r = 8 is 32 MiB per hash (`accounts.scryptCost`;
    /// docs/SECURITY.md).
    public static let defaultCost = 15
    static let blockSize = 8
    static let parallelism = 1
    static let saltBytes = 16
    static let hashBytes = 32

    /// A new hash of `password` with a random salt.
    public static func make(_ password: Password, cost: Int = defaultCost) throws -> String {
        let salt = (0..<saltBytes).map { _ in UInt8.random(in: 0...255) }
        let hash = try derive(password, salt: salt, cost: cost, blockSize: blockSize, parallelism: parallelism)
        return "scrypt$\(cost)$\(blockSize)$\(parallelism)$\(hex(salt))$\(hex(hash))"
    }

    /// Whether `password` is the one `encoded` was made from. The comparison takes the same time
    /// wherever the hashes differ. A hash that cannot be read matches nothing.
    public static func verify(_ password: Password, against encoded: String) -> Bool {
        let parts = encoded.split(separator: "$", omittingEmptySubsequences: false)
        guard parts.count == 6, parts[0] == "scrypt", let cost = Int(parts[1]), (1...24).contains(cost), let r = Int(parts[2]),
            (1...32).contains(r), let p = Int(parts[3]), (1...16).contains(p), let salt = bytes(hex: parts[4]),
            let expected = bytes(hex: parts[5]), !expected.isEmpty,
            let actual = try? derive(password, salt: salt, cost: cost, blockSize: r, parallelism: p, length: expected.count)
        else { return false }
        var difference: UInt8 = 0
        for (a, b) in zip(actual, expected) { difference |= a ^ b }
        return difference == 0 && actual.count == expected.count
    }

    private static func derive(
        _ password: Password, salt: [UInt8], cost: Int, blockSize: Int, parallelism: Int, length: Int = hashBytes
    ) throws -> [UInt8] {
        let key = try KDF.Scrypt.deriveKey(
            from: Array(password.text.utf8), salt: salt, outputByteCount: length, rounds: 1 << cost, blockSize: blockSize,
            parallelism: parallelism)
        return key.withUnsafeBytes { Array($0) }
    }

    private static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func bytes(hex: Substring) -> [UInt8]? {
        let digits = Array(hex.utf8)
        guard digits.count % 2 == 0 else { return nil }
        func value(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
            default: nil
            }
        }
        var out: [UInt8] = []
        var index = 0
        while index < digits.count {
            guard let high = value(digits[index]), let low = value(digits[index + 1]) else { return nil }
            out.append(high << 4 | low)
            index += 2
        }
        return out
    }
}
