import Testing
import WrenTrain

@Suite struct TrainingErrorTests {
    @Test func descriptionsNameTheProblem() {
        #expect(TrainingError.diverged(step: 12, what: "loss is nan").description == "training diverged at step 12: loss is nan")
        #expect(TrainingError.invalidData("labels hold 7 values for 8 images").description.hasPrefix("invalid training data: "))
    }
}
