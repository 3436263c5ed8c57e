@testable import ChatCore

/// The code of the first refusal among `deliveries`, if there is one.
func refusal(_ deliveries: [Delivery]) -> ErrorCode? {
    for case .event(let e, _) in deliveries { if case .error(let code, _) = e.kind { return code } }
    return nil
}
