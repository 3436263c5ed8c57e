import ChatCore

/// One harness for every parser that takes bytes from the network or the disk. The first byte
/// picks the target; the rest is its input. Besides "never crashes", each target checks an
/// invariant, and traps when it does not hold.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    guard count > 0 else { return 0 }
    let bytes = Array(UnsafeBufferPointer(start: start + 1, count: count - 1))
    switch start[0] % 7 {
    case 0: framer(bytes)
    case 1: commands(bytes)
    case 2: json(bytes)
    case 3: config(bytes)
    case 4: admin(bytes)
    case 5: irc(bytes)
    default: names(bytes)
    }
    return 0
}

/// Telnet filtering and line framing, split at an input-chosen point, then the session.
func framer(_ bytes: [UInt8]) {
    let max = 32
    var framer = LineFramer(maxLineBytes: max)
    var session = Session(limits: Limits())
    let split = bytes.isEmpty ? 0 : Int(bytes[0]) % (bytes.count + 1)
    for part in [bytes[..<split], bytes[split...]] {
        framer.feed(Array(part)) { output in
            if case .line(let line) = output {
                precondition(line.count <= max + 1, "a line longer than the limit got through")
                _ = session.receive(line: line)
            }
        }
        precondition(framer.bufferedBytes <= max + 1, "the framer holds more than the limit")
    }
}

/// IRC: lines (split at CR/LF) through an IRC session, before and after registration, and
/// every answer it gives rendered for IRC: nothing traps, and every rendered line fits IRC's
/// 512 bytes (plus tags) with no control byte but CTCP's.
func irc(_ bytes: [UInt8]) {
    var session = Session(limits: Limits(), dialect: .irc, sniffing: false)
    let dialect = DialectID.irc.dialect
    for line in bytes.split(whereSeparator: { $0 == 0x0A || $0 == 0x0D }) {
        var actions = [session.receive(line: Array(line))]
        while let action = actions.popLast() {
            switch action {
            case .several(let more): actions += more
            case .register: session.registered()
            case .authenticate(let account, let password):
                // SASL: answered at once, signed in when the password is the account's name
                // backwards (either way, whatever registration waited follows).
                actions.append(session.authenticated(String(password.text.reversed()) == account ? account : nil))
            case .reply(let kind, let re):
                let rendered = dialect.render(Event(id: 1, time: Timestamp(milliseconds: 0), re: re, kind), View(isAnswer: true), to: "me")
                for out in rendered.split(separator: 0x0A) {
                    let body = out.first == UInt8(ascii: "@") ? Array(out.drop { $0 != 0x20 }) : Array(out)
                    precondition(body.count <= 512, "an IRC line longer than 512 bytes")
                    precondition(!body.dropLast().contains { $0 < 0x20 && $0 != 0x01 }, "a control byte in an IRC line")
                }
            default: break
            }
        }
    }
}

/// Sanitizing and both command parsers; sanitized text never carries a control character.
func commands(_ bytes: [UInt8]) {
    let clean = Sanitizer.clean(bytes)
    for scalar in clean.unicodeScalars {
        precondition(scalar.value >= 0x20 && !(0x7F...0x9F).contains(scalar.value), "a control character survived")
        precondition(!(0x202A...0x202E).contains(scalar.value) && !(0x2066...0x2069).contains(scalar.value), "a bidi control survived")
    }
    _ = Command.parse(line: clean)
    _ = JSONRequest.parse(bytes)
}

/// JSON values survive writing and re-reading.
func json(_ bytes: [UInt8]) {
    guard let value = try? JSONValue.parse(bytes: bytes) else { return }
    let again = try? JSONValue.parse(value.jsonText)
    precondition(again != nil, "written JSON does not parse")
    if !containsDouble(value) { precondition(again == value, "JSON round trip changed the value") }
}

func containsDouble(_ value: JSONValue) -> Bool {
    switch value {
    case .double: return true
    case .array(let elements): return elements.contains(where: containsDouble)
    case .object(let object): return object.members.contains { containsDouble($0.value) }
    default: return false
    }
}

/// Config validation: either a config, or problems that each name a path or the document.
func config(_ bytes: [UInt8]) {
    if case .failure(let error) = Config.parse(String(decoding: bytes, as: UTF8.self)) {
        precondition(!error.issues.isEmpty, "a refused config with no problem listed")
    }
}

/// Admin requests: parsed requests re-encode to themselves; responses parse without trapping.
func admin(_ bytes: [UInt8]) {
    if case .success(let request) = AdminRequest.parse(bytes) {
        precondition(AdminRequest.parse(Array(request.encoded().dropLast())) == .success(request), "admin round trip changed the request")
    }
    _ = AdminResponse.parse(bytes)
}

/// Nick, room and address rules.
func names(_ bytes: [UInt8]) {
    let text = String(decoding: bytes, as: UTF8.self)
    if case .success(let nick) = Nickname.validate(text, maxLength: 24) {
        precondition(Nickname.validate(nick.display, maxLength: 24) == .success(nick), "a valid nick is not valid again")
    }
    _ = RoomName.validate(text, maxLength: 32)
    if let pattern = AddressPattern(text) { precondition(AddressPattern(pattern.description) == pattern, "an address does not round-trip") }
}
