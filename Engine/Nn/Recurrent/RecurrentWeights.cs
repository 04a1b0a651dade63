namespace Engine.Nn;

/// <summary>
/// One layer and direction's parameters (torch's weight_ih_l{k}[_reverse], weight_hh…, bias_ih…, bias_hh…): W_ih
/// [G·H, in], W_hh [G·H, H], the biases [G·H] or null, with the G gates stacked in PyTorch's order.
/// </summary>
internal readonly record struct RecurrentWeights(Tensor WeightIh, Tensor WeightHh, Tensor? BiasIh, Tensor? BiasHh);
