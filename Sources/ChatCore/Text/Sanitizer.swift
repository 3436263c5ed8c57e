/// Makes client text safe to show on another person's terminal or page.
///
/// Everything a client sends passes through here before it is relayed: messages, nicks, room
/// names, reasons. The result is valid UTF-8 (invalid sequences become U+FFFD) with no C0 or C1
/// control characters, no DEL, no ANSI/VT escape sequences (CSI, OSC, DCS and the rest, whole,
/// including their parameters) and no bidirectional overrides, so nothing one client sends can
/// move another's cursor, retitle its window, or reorder the text around it. A tab becomes a space.
public enum Sanitizer {
    /// Sanitizes raw bytes from the wire.
    public static func clean(_ bytes: some Collection<UInt8>) -> String {
        clean(String(decoding: bytes, as: UTF8.self))
    }

    /// Sanitizes a string that is already valid Unicode (e.g. decoded from JSON).
    public static func clean(_ text: String) -> String {
        // Fast path: printable ASCII only, the common case for chat lines.
        if text.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) { return text }
        var output = String.UnicodeScalarView()
        var state = EscapeState.text
        for scalar in text.unicodeScalars {
            let v = scalar.value
            switch state {
            case .text:
                break
            case .escape:
                // The byte after ESC picks the kind of sequence.
                switch v {
                case 0x5B: state = .controlSequence  // ESC [
                case 0x5D, 0x50, 0x58, 0x5E, 0x5F: state = .controlString  // ESC ] P X ^ _
                case 0x20...0x2F: state = .escapeIntermediate  // ESC SP..'/' then a final byte
                default: state = .text  // two-character sequence: drop both
                }
                continue
            case .escapeIntermediate:
                if !(0x20...0x2F).contains(v) { state = .text }
                continue
            case .controlSequence:
                // Parameters and intermediates (0x20-0x3F) until a final byte (0x40-0x7E).
                // Anything else aborts the sequence and is handled as ordinary text below.
                if (0x20...0x3F).contains(v) { continue }
                state = .text
                if (0x40...0x7E).contains(v) { continue }
            case .controlString:
                // Runs to BEL, ST (ESC \ or U+009C); an ESC inside ends it as the start of ST.
                if v == 0x07 || v == 0x9C { state = .text }
                if v == 0x1B { state = .stringTerminator }
                continue
            case .stringTerminator:
                state = v == 0x5C ? .text : .controlString
                continue
            }
            switch v {
            case 0x1B: state = .escape
            case 0x9B: state = .controlSequence  // C1 CSI
            case 0x90, 0x98, 0x9D, 0x9E, 0x9F: state = .controlString  // C1 DCS SOS OSC PM APC
            case 0x09: output.append(" ")
            case 0x00..<0x20, 0x7F, 0x80...0x9F: break
            case 0x200E, 0x200F, 0x061C: break  // LRM, RLM, ALM
            case 0x202A...0x202E, 0x2066...0x2069: break  // embeddings, overrides, isolates
            default: output.append(scalar)
            }
        }
        return String(output)
    }

    private enum EscapeState {
        case text, escape, escapeIntermediate, controlSequence, controlString, stringTerminator
    }

    /// Sanitizes and trims white space at both ends: the form used for arguments such as
    /// nicknames, room names and reasons.
    public static func cleanArgument(_ text: String) -> String {
        trimmed(clean(text))
    }

    /// `text` without white space at either end.
    public static func trimmed<S: StringProtocol>(_ text: S) -> String {
        var scalars = Substring(text).unicodeScalars[...]
        while let first = scalars.first, first.properties.isWhitespace { scalars.removeFirst() }
        while let last = scalars.last, last.properties.isWhitespace { scalars.removeLast() }
        return String(String.UnicodeScalarView(scalars))
    }
}
