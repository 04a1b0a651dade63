namespace Engine.Kernels;

/// <summary>
/// PyTorch's cross-entropy options as the kernels read them: a row whose label is <see cref="IgnoreIndex"/> adds
/// nothing; with class weights w (<see cref="Weighted"/> ≠ 0; else w = 1) and label smoothing ε = <see cref="Smoothing"/>
/// over C classes, a row's loss is −(1 − ε)·w_y·log p_y − (ε/C)·Σ_c w_c·log p_c, and its gradient on logit k is
/// p_k·((1 − ε)·w_y + (ε/C)·W) − (1 − ε)·w_y·[k = y] − (ε/C)·w_k with W = <see cref="WeightSum"/> = Σ_c w_c.
/// The mean's denominator (Σ of w_y over the rows not ignored) is folded into the scale on the host.
/// </summary>
public struct CrossEntropyTerms
{
    public int IgnoreIndex;
    public float Smoothing;
    public int Weighted;
    public float WeightSum;

    public readonly float WeightOf(ILGPU.ArrayView<float> weights, int c) => Weighted != 0 ? weights[c] : 1f;
}
