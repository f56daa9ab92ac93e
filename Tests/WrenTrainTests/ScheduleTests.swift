import Foundation
import Testing
@testable import WrenTrain

/// One entry of schedules.json: a `--schedule` string and the learning rates torch's schedulers
/// gave for it.
struct ScheduleCase: Sendable, CustomTestStringConvertible {
    var schedule: String
    var epochs: Int
    var baseLearningRate: Double
    var learningRates: [Double]
    /// JSONSerialization's reading of the decimal "lrs" (for the parser check below).
    var decimalLearningRates: [Double]

    var testDescription: String { "\(schedule) over \(epochs)" }

    static let all: [ScheduleCase] = (try? load()) ?? []

    static func load() throws -> [ScheduleCase] {
        let root = try OptimizerFixtures.json("schedules.json")
        return (root["schedules"] as! [[String: Any]]).map { entry in
            ScheduleCase(
                schedule: entry["schedule"] as! String, epochs: entry["epochs"] as! Int, baseLearningRate: entry["base_lr"] as! Double,
                learningRates: (entry["lr_bits"] as! [String]).map { Double(bitPattern: UInt64($0, radix: 16)!) },
                decimalLearningRates: entry["lrs"] as! [Double])
        }
    }
}

@Suite struct ScheduleTests {
    @Test func fixtureHasEverySchedule() {
        #expect(ScheduleCase.all.count == 10)
        #expect(ScheduleCase.all.contains { $0.schedule == "multistep:60,120,160:0.2" && $0.epochs == 200 })
    }

    /// The same rates as PyTorch, bit for bit, every epoch.
    @Test(arguments: ScheduleCase.all)
    func learningRatesAreTorchs(_ testCase: ScheduleCase) throws {
        let schedule = try LearningRateSchedule(parsing: testCase.schedule)
        let rates = try schedule.learningRates(base: testCase.baseLearningRate, epochs: testCase.epochs)
        #expect(rates.count == testCase.epochs)
        for (epoch, (ours, torch)) in zip(rates, testCase.learningRates).enumerated() {
            #expect(ours.bitPattern == torch.bitPattern, "\(testCase.schedule), epoch \(epoch): \(ours) vs torch \(torch)")
        }
    }

    /// Why the fixture carries bit patterns: Foundation's JSON parser on Linux is not correctly
    /// rounded for long decimals. The decimals it reads are still within 1e-15 relative, and the
    /// schedules differ from each other by far more, so the bit patterns are the right values.
    @Test(arguments: ScheduleCase.all)
    func decimalAndBitPatternsAgree(_ testCase: ScheduleCase) {
        for (decimal, exact) in zip(testCase.decimalLearningRates, testCase.learningRates) {
            #expect(abs(decimal - exact) <= 1e-15 * exact, "\(decimal) vs \(exact)")
        }
    }

    @Test func paperScheduleByHand() throws {
        let rates = try LearningRateSchedule(parsing: "multistep:60,120,160:0.2").learningRates(base: 0.1, epochs: 200)
        #expect(rates[59] == 0.1 && rates[60] == 0.1 * 0.2 && rates[119] == 0.1 * 0.2)
        #expect(rates[120] == 0.1 * 0.2 * 0.2 && rates[160] == 0.1 * 0.2 * 0.2 * 0.2 && rates[199] == rates[160])
    }

    @Test func schedulerSteps() throws {
        var scheduler = try LearningRateScheduler(LearningRateSchedule(.cosine, warmup: .init(epochs: 2, startFactor: 0.5)), baseLearningRate: 0.2, epochs: 6)
        #expect(scheduler.epoch == 0 && scheduler.learningRate == 0.1)
        scheduler.step()
        #expect(scheduler.epoch == 1 && scheduler.learningRate == 0.1 * (1 + 0.5 / (2 * 0.5)))
        scheduler.step()
        #expect(scheduler.epoch == 2 && scheduler.learningRate == 0.2, "the cosine starts at the base rate when the warmup ends")
        scheduler.step()
        #expect(abs(scheduler.learningRate - 0.1 * (1 + cos(Double.pi / 4))) < 1e-15)
    }

    @Test(arguments: [
        "constant", "cosine", "multistep:60,120,160:0.2", "multistep:5:0.1", "cosine+warmup:5", "cosine+warmup:5:0.1",
        "constant+warmup:3:0.5", "multistep:10,20:0.5+warmup:2",
    ])
    func descriptionRoundTrips(_ text: String) throws {
        let schedule = try LearningRateSchedule(parsing: text)
        #expect(schedule.description == text)
        #expect(try LearningRateSchedule(parsing: schedule.description) == schedule)
    }

    @Test func parsedValues() throws {
        #expect(try LearningRateSchedule(parsing: "multistep:60,120,160:0.2") == LearningRateSchedule(.multiStep(milestones: [60, 120, 160], factor: 0.2)))
        #expect(try LearningRateSchedule(parsing: "cosine+warmup:5") == LearningRateSchedule(.cosine, warmup: .init(epochs: 5, startFactor: 1.0 / 3)))
        #expect(try LearningRateSchedule(parsing: "constant+warmup:4:0.25").warmup == .init(epochs: 4, startFactor: 0.25))
    }

    /// Each error quotes the string and names the part that is wrong.
    @Test(arguments: [
        ("", "empty; expected constant, cosine or multistep:E1,E2,...:FACTOR (e.g. multistep:60,120,160:0.2), optionally followed by +warmup:EPOCHS[:START_FACTOR]"),
        ("step", "'step' is not a schedule; expected constant, cosine or multistep:E1,E2,...:FACTOR (e.g. multistep:60,120,160:0.2), optionally followed by +warmup:EPOCHS[:START_FACTOR]"),
        ("cosine:10", "'cosine' takes no arguments, found ':10'"),
        ("multistep:60,120,160", "expected multistep:E1,E2,...:FACTOR (e.g. multistep:60,120,160:0.2), found 1 field(s) after 'multistep'"),
        ("multistep:60,1x0,160:0.2", "milestone '1x0' is not a whole number of epochs"),
        ("multistep:60,,160:0.2", "milestone '' is not a whole number of epochs"),
        ("multistep:0,10:0.2", "milestone 0 must be an epoch ≥ 1"),
        ("multistep:60,60:0.2", "milestones must increase, but 60 follows 60"),
        ("multistep:60,120:x", "factor 'x' is not a number"),
        ("multistep:60,120:-0.2", "factor -0.2 must be a finite number > 0"),
        ("multistep:60,120:nan", "factor nan must be a finite number > 0"),
        ("cosine+warmup", "'+warmup' is not a warmup; expected +warmup:EPOCHS or +warmup:EPOCHS:START_FACTOR"),
        ("cosine+ramp:5", "'+ramp:5' is not a warmup; expected +warmup:EPOCHS or +warmup:EPOCHS:START_FACTOR"),
        ("cosine+warmup:five", "warmup epochs 'five' is not a whole number"),
        ("cosine+warmup:0", "warmup epochs 0 must be ≥ 1"),
        ("cosine+warmup:5:0", "warmup start factor 0 must be in (0, 1]"),
        ("cosine+warmup:5:1.5", "warmup start factor 1.5 must be in (0, 1]"),
        ("cosine+warmup:5+warmup:5", "more than one '+'; only one +warmup:... may follow the schedule"),
        ("+warmup:5", "no schedule before '+'; expected constant, cosine or multistep:E1,E2,...:FACTOR (e.g. multistep:60,120,160:0.2), optionally followed by +warmup:EPOCHS[:START_FACTOR]"),
    ])
    func malformedStringsAreRefused(_ text: String, _ why: String) {
        #expect(throws: TrainingError.invalidConfiguration("--schedule '\(text)': \(why)")) {
            _ = try LearningRateSchedule(parsing: text)
        }
    }

    @Test(arguments: [
        ("multistep:60,120,160:0.2", 100, "--schedule 'multistep:60,120,160:0.2' with 100 epochs: milestone 120 is not an epoch of the run (epochs 0...99); lower it or raise --epochs"),
        ("multistep:3,30:0.2+warmup:5", 100, "--schedule 'multistep:3,30:0.2+warmup:5' with 100 epochs: milestone 3 must come after the 5 warmup epoch(s)"),
        ("multistep:5,30:0.2+warmup:5", 100, "--schedule 'multistep:5,30:0.2+warmup:5' with 100 epochs: milestone 5 must come after the 5 warmup epoch(s)"),
        ("cosine+warmup:10", 10, "--schedule 'cosine+warmup:10' with 10 epochs: warmup of 10 epochs must be at least 1 and shorter than the run"),
        ("cosine", 0, "the number of epochs (--epochs) is 0; it must be ≥ 1"),
    ])
    func schedulesThatDoNotFitTheRunAreRefused(_ text: String, _ epochs: Int, _ message: String) throws {
        let schedule = try LearningRateSchedule(parsing: text)
        #expect(throws: TrainingError.invalidConfiguration(message)) {
            _ = try schedule.learningRates(base: 0.1, epochs: epochs)
        }
    }

    @Test func badBaseRateIsRefused() {
        #expect(throws: TrainingError.invalidConfiguration("learning rate (--lr) is -1.0; it must be a finite number ≥ 0")) {
            _ = try LearningRateSchedule(.constant).learningRates(base: -1, epochs: 3)
        }
    }
}
