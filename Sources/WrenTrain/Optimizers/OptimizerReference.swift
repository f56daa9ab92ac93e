/// The readable form of each update: torch 2.15.0's `_single_tensor_sgd` and
/// `_single_tensor_adam` (torch/optim/sgd.py, adam.py; amsgrad, maximize, capturable and
/// differentiable off) transcribed line for line onto `TorchOps`, one whole-tensor operation at a
/// time with a new array for each result, generic so it runs in Float and in Double. It allocates
/// and makes several passes; `Optimizer` is the fused form training uses, and the tests hold it to
/// bit-identical results with this one.
enum OptimizerReference {
    /// One `_single_tensor_sgd` step for one parameter (dampening 0). `momentumBuffer` is nil
    /// before the first step, as PyTorch's `momentum_buffer` state is `None`.
    static func sgdStep<T: BinaryFloatingPoint>(
        parameter: inout [T], gradient: [T], momentumBuffer: inout [T]?,
        learningRate lr: Double, weightDecay: Double, momentum: Double, nesterov: Bool
    ) {
        var grad = gradient
        if weightDecay != 0 {
            grad = TorchOps.add(grad, parameter, alpha: weightDecay)
        }
        if momentum != 0 {
            var buf: [T]
            if let existing = momentumBuffer {
                buf = TorchOps.add(TorchOps.mul(existing, momentum), grad)  // buf.mul_(momentum).add_(grad, alpha=1 - dampening)
            } else {
                buf = grad                                                   // buf = grad.detach().clone()
            }
            momentumBuffer = buf
            if nesterov {
                grad = TorchOps.add(grad, buf, alpha: momentum)
            } else {
                grad = buf
            }
        }
        parameter = TorchOps.add(parameter, grad, alpha: -lr)
    }

    /// One `_single_tensor_adam` step for one parameter; `decoupled` is AdamW. `step` is the
    /// parameter's step count before this step (PyTorch's `state["step"]`), incremented here.
    static func adamStep<T: BinaryFloatingPoint>(
        parameter: inout [T], gradient: [T], expAvg: inout [T], expAvgSq: inout [T], step: inout Int,
        learningRate lr: Double, weightDecay: Double, beta1: Double, beta2: Double, epsilon eps: Double, decoupled: Bool
    ) {
        var grad = gradient
        step += 1
        if weightDecay != 0 {
            if decoupled {
                parameter = TorchOps.mul(parameter, 1 - lr * weightDecay)       // param.mul_(1 - lr * weight_decay)
            } else {
                grad = TorchOps.add(grad, parameter, alpha: weightDecay)        // grad = grad.add(param, alpha=weight_decay)
            }
        }
        expAvg = TorchOps.lerp(expAvg, grad, weight: 1 - beta1)                  // exp_avg.lerp_(grad, 1 - beta1)
        expAvgSq = TorchOps.addcmul(TorchOps.mul(expAvgSq, beta2), grad, grad, value: 1 - beta2)

        let stepValue = Double(step)                                             // _get_value(step_t)
        let biasCorrection1 = 1 - TorchOps.power(beta1, stepValue)
        let biasCorrection2 = 1 - TorchOps.power(beta2, stepValue)
        let stepSize = lr / biasCorrection1
        let biasCorrection2Sqrt = TorchOps.power(biasCorrection2, 0.5)          // bias_correction2**0.5
        let denom = TorchOps.add(TorchOps.div(TorchOps.sqrt(expAvgSq), biasCorrection2Sqrt), scalar: eps)
        parameter = TorchOps.addcdiv(parameter, expAvg, denom, value: -stepSize)
    }
}
