import Testing
@testable import PazQEMUDriver

@Test func moduleLinks() { _ = QEMUDriver.self }
