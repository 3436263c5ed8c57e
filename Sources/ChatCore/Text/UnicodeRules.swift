import CICU

/// The Unicode operations names need, from the system's ICU (Debian's libicu): NFKC
/// normalization, NFKC case folding, and UTS #39 confusable skeletons. No Foundation.
enum ICU {
    /// `text` under NFKC (compatibility forms unified: `ＡＢＣ` → `ABC`, `ﬁ` → `fi`).
    static func nfkc(_ text: String) -> String {
        transform(text) { chatd_icu_normalize(Int32(CHATD_ICU_NFKC), $0, $1, $2, $3) }
    }

    /// `text` under NFD: every precomposed letter split into its base and combining marks.
    static func nfd(_ text: String) -> String {
        transform(text) { chatd_icu_normalize(Int32(CHATD_ICU_NFD), $0, $1, $2, $3) }
    }

    /// `text` under NFKC_Casefold: NFKC, full case folding, default-ignorables removed.
    static func nfkcCasefold(_ text: String) -> String {
        transform(text) { chatd_icu_normalize(Int32(CHATD_ICU_NFKC_CASEFOLD), $0, $1, $2, $3) }
    }

    /// The UTS #39 skeleton of `text`: two strings that look alike ("раypal" in Cyrillic and
    /// "paypal") have the same skeleton. `text` unchanged if ICU has no confusables data.
    static func skeleton(_ text: String) -> String {
        transform(text) { chatd_icu_skeleton($0, $1, $2, $3) }
    }

    /// Runs an ICU UTF-16 transform, growing the output buffer once if it was too small.
    private static func transform(
        _ text: String, _ body: (UnsafePointer<UInt16>, Int32, UnsafeMutablePointer<UInt16>, Int32) -> Int32
    ) -> String {
        let source = Array(text.utf16)
        guard !source.isEmpty else { return text }
        var capacity = source.count * 3 + 8
        while true {
            var output = [UInt16](repeating: 0, count: capacity)
            let needed = source.withUnsafeBufferPointer { input in
                output.withUnsafeMutableBufferPointer { body(input.baseAddress!, Int32(input.count), $0.baseAddress!, Int32(capacity)) }
            }
            if needed < 0 { return text }
            if Int(needed) <= capacity { return String(decoding: output[..<Int(needed)], as: UTF16.self) }
            capacity = Int(needed)
        }
    }
}
