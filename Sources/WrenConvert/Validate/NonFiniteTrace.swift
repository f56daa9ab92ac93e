import WrenCore
import WrenNetwork
import WrenReference

/// Logits that are NaN or ±Inf: an error naming the input and, when it can be found, the first
/// layer whose values went non-finite, instead of a report (or a .npy) full of NaN.
public struct NonFiniteLogitsError: Error, CustomStringConvertible, Equatable {
    /// "int8" or "float".
    public var model: String
    /// The input's position in the batch, from 0.
    public var input: Int
    public var inputName: String
    /// The first logit that is not finite.
    public var value: Float
    /// Where non-finite values first appeared, e.g. "activation 'relu' (int8 scale 3.4e+38)".
    public var firstLayer: String?

    public init(model: String, input: Int, inputName: String, value: Float, firstLayer: String?) {
        self.model = model
        self.input = input
        self.inputName = inputName
        self.value = value
        self.firstLayer = firstLayer
    }

    public var description: String {
        "non-finite \(model) logits for input \(input) (\(inputName)): a logit is \(value)"
            + (firstLayer.map { "; first non-finite values at \($0)" } ?? "")
    }
}

/// Finds where non-finite values first appear for one input, by running it again alone and looking
/// at every activation in execution order. Only called once logits have come out non-finite, so
/// the normal runs pay nothing for it.
public enum NonFiniteTrace {
    /// Throws `NonFiniteLogitsError` for the first input whose logits are not all finite;
    /// `trace(i)` names where image `i` first went non-finite (see the `firstLayer` functions).
    public static func check(
        logits: [Float], classes: Int, model: String, names: [String], trace: (Int) -> String?
    ) throws(NonFiniteLogitsError) {
        guard let bad = logits.firstIndex(where: { !$0.isFinite }) else { return }
        let image = bad / max(classes, 1)
        throw NonFiniteLogitsError(
            model: model, input: image, inputName: image < names.count ? names[image] : "#\(image)", value: logits[bad],
            firstLayer: trace(image))
    }

    /// The first int8 (or int16) activation of `model` whose dequantized values are not finite for
    /// `image` (one image, NCHW), or else the float classifier head that reads the last one.
    public static func firstLayer(model: WrenModel, image: [Float], kernels: KernelTable = .portable) -> String? {
        let description = model.description
        guard let context = try? WrenContext(model: model, maxBatch: 1, retainActivations: true, kernels: kernels),
              (try? context.run(image, batch: 1)) != nil else { return nil }
        for layer in description.layers {
            guard let index = layer.output else {
                let input = description.tensors[layer.input]
                return "the float classifier head (average pool + linear) over '\(input.name)' (scale \(input.scale))"
            }
            let tensor = description.tensors[index]
            let dequantizesNonFinite: Bool
            if let values = context.activations(tensor: index, batch: 1) {
                dequantizesNonFinite = values.contains { !(Float(Int32($0) - tensor.zeroPoint) * tensor.scale).isFinite }
            } else if let values = context.wideActivations(tensor: index, batch: 1) {
                dequantizesNonFinite = values.contains { !(Float(Int32($0) - tensor.zeroPoint) * tensor.scale).isFinite }
            } else {
                dequantizesNonFinite = false
            }
            if dequantizesNonFinite { return "activation '\(tensor.name)' (\(tensor.elementType) scale \(tensor.scale))" }
        }
        return nil
    }

    /// The first activation of the float reference with a non-finite value for `image`.
    public static func firstLayer(reference: WideResNet, image: [Float], height: Int, width: Int) -> String? {
        var first: String?
        _ = try? reference.forward(image, batch: 1, height: height, width: width) { name, _, values in
            if first == nil, values.contains(where: { !$0.isFinite }) { first = "activation '\(name)' of the float reference" }
        }
        return first ?? "the float reference's final linear layer"
    }
}
