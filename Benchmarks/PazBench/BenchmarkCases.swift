import ArgumentParser

/// Every benchmark case, in the order `paz-bench --help` lists them.
enum BenchmarkCases {
    static let all: [any ParsableCommand.Type] = [
        AMQPConfirmsBenchmark.self,
        AMQPRPCBenchmark.self,
        MessageCodecBenchmark.self,
        RedisHGetAllBenchmark.self,
        StatusBenchmark.self,
        AcceptBenchmark.self,
        FailFastBenchmark.self,
        IdleRSSBenchmark.self,
        SSHOverheadBenchmark.self,
        QEMUBootBenchmark.self,
        QEMUClusterBenchmark.self,
        EC2CreateBenchmark.self,
        CloudCreateBenchmark.self,
        FailoverBenchmark.self,
    ]
}
