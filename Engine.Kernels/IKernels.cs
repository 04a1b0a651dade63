using ILGPU;

namespace Engine.Kernels;

/// <summary>
/// The seam between the engine and its kernels: every primitive the engine runs, declared once (as ATen's dispatch
/// stubs are) and implemented per backend in parallel folders: <see cref="Ilgpu.IlgpuKernels"/> (ILGPU kernels on
/// CUDA, OpenCL or ILGPU's CPU accelerator) and <see cref="Simd.SimdKernels"/> (hand-written SIMD over host memory).
/// Tensors, autograd, layers, optimizers and trainers call only this; none of them branches on the backend.
/// </summary>
/// <remarks>
/// Buffers are ILGPU views on both backends: on the SIMD backend they are views of host memory that the backend reads
/// through their addresses. Operations run in call order; <see cref="Synchronize"/> waits for them to finish, and the
/// copies to and from the host wait as needed. The math of each primitive is stated on the ILGPU kernel it names.
/// </remarks>
public interface IKernels
{
    /// <summary>Short description of the backend, e.g. "SIMD Vector512, 2 threads" or "ILGPU CPUAccelerator".</summary>
    string Description { get; }

    /// <summary>Waits until every queued operation has finished.</summary>
    void Synchronize();

    // ---- host transfers ----
    /// <summary>target ← source (host to device); waits for queued work that may read target.</summary>
    void Upload<T>(ReadOnlySpan<T> source, ArrayView<T> target) where T : unmanaged;

    /// <summary>target ← source (device to host); waits for queued work that writes source.</summary>
    void Download<T>(ArrayView<T> source, Span<T> target) where T : unmanaged;

    /// <summary>target ← source, device to device, equal lengths.</summary>
    void Copy(ArrayView<float> source, ArrayView<float> target);

    // ---- element-wise (ElementwiseKernels) ----
    void Unary<TOp>(ArrayView<float> x, ArrayView<float> y, float p = 0f, float q = 0f) where TOp : struct, IUnaryOp;

    void UnaryGrad<TOp>(ArrayView<float> x, ArrayView<float> y, ArrayView<float> dy, ArrayView<float> dx,
        float p = 0f, float q = 0f) where TOp : struct, IUnaryOp;

    void Binary<TOp>(ArrayView<float> a, BroadcastMap ma, ArrayView<float> b, BroadcastMap mb, ArrayView<float> c)
        where TOp : struct, IBinaryOp;

    /// <summary>Accumulates the gradient of operand a (side 0) or b (side 1) into <paramref name="d"/>.</summary>
    void BinaryGrad<TOp>(ArrayView<float> a, BroadcastMap ma, ArrayView<float> b, BroadcastMap mb,
        ArrayView<float> c, ArrayView<float> dc, ArrayView<float> d, int side) where TOp : struct, IBinaryOp;

    void Fill(ArrayView<float> y, float value);

    /// <summary>Zeroes flag[0] (unless <paramref name="reset"/> is false), then sets it to 1 if some x is NaN or ±∞.</summary>
    void FlagNonFinite(ArrayView<float> x, ArrayView<int> flag, bool reset = true);

    void Accumulate(ArrayView<float> x, ArrayView<float> y, float alpha = 1f);

    void Dropout(ArrayView<float> x, ArrayView<float> y, uint seed, float p, bool accumulate);

    void Random(ArrayView<float> y, uint seed, float low, float high, bool normal, uint offset = 0);

    /// <summary>
    /// y[i] += std·zᵢ with zᵢ standard normal from (seed, i): Box–Muller on pairs with both outputs, in blocks of 32
    /// elements holding 16 pairs: element 32b + t takes pair p = 16b + (t mod 16), r = √(−2 ln(1 − u(2p))),
    /// φ = 2π(u(2p+1) − ½), zᵢ = r·cos φ for t &lt; 16 and r·sin φ otherwise (u the hash of <see cref="Random"/>).
    /// DP-SGD's Gaussian noise, added in place.
    /// </summary>
    void AddGaussianNoise(ArrayView<float> y, uint seed, float std);

    // ---- movement and strided reduction (MovementKernels) ----
    /// <summary>y[dst(i)] (+)= x[src(i)] over the layouts' shared index space; dst maps no two indices to one element.</summary>
    void StridedCopy(ArrayView<float> x, StridedLayout src, ArrayView<float> y, StridedLayout dst, bool accumulate);

    /// <summary>y[j] (+)= scale·Σ_r x[outer(j) + inner(r)]; y contiguous with |outer| elements.</summary>
    void StridedSum(ArrayView<float> x, StridedLayout outer, StridedLayout inner, ArrayView<float> y, float scale,
        bool accumulate);

    // ---- integer tensors and indexing (IndexingKernels) ----
    /// <summary>Completes every call before returning (host backends): index errors can then be reported at once.</summary>
    bool CompletesOnReturn { get; }

    void ToFloat(ArrayView<int> x, ArrayView<float> y);

    void ToInt(ArrayView<float> x, ArrayView<int> y, bool toBool);

    void IntToBool(ArrayView<int> x, ArrayView<int> y);

    void Sequence(ArrayView<float> y, float start, float step);

    void IntSequence(ArrayView<int> y, int start, int step);

    /// <summary>y = a ∘ b as 1/0, ∘ by <paramref name="op"/>: 0 ==, 1 ≠, 2 &lt;, 3 ≤, 4 &gt;, 5 ≥.</summary>
    void Compare(ArrayView<float> a, BroadcastMap ma, ArrayView<float> b, BroadcastMap mb, ArrayView<int> y, int op);

    void IntCompare(ArrayView<int> a, BroadcastMap ma, ArrayView<int> b, BroadcastMap mb, ArrayView<int> y, int op);

    void Where(ArrayView<int> cond, BroadcastMap mc, ArrayView<float> a, BroadcastMap ma, ArrayView<float> b,
        BroadcastMap mb, ArrayView<float> y);

    void WhereGrad(ArrayView<int> cond, BroadcastMap mc, ArrayView<float> dy, ArrayView<float> d, int side);

    void Triangle(ArrayView<float> x, ArrayView<float> y, int rows, int cols, int diagonal, bool upper, bool accumulate);

    void AxisArgMax(ArrayView<float> x, ArrayView<int> y, AxisView v, bool min);

    void SortLines(ArrayView<float> x, ArrayView<float> values, ArrayView<int> indices, AxisView v, int k, bool descending);

    void Gather(ArrayView<float> x, ArrayView<int> index, ArrayView<float> y, IndexPlan plan, ArrayView<int> errors);

    void Scatter(ArrayView<float> src, ArrayView<int> index, ArrayView<float> y, IndexPlan plan, ArrayView<int> errors,
        bool accumulate);

    void OneHot(ArrayView<int> index, ArrayView<int> y, int classes, ArrayView<int> errors, int opId);

    void LineProduct(ArrayView<float> x, ArrayView<float> y, AxisView v);

    void LineProductGrad(ArrayView<float> x, ArrayView<float> dy, ArrayView<float> dx, AxisView v);

    // ---- reductions, softmax, losses, scores ----
    void SumAll<TTerm>(ArrayView<float> a, ArrayView<float> b, ArrayView<float> result, float scale)
        where TTerm : struct, IPairTerm;

    void SumAllGrad<TTerm>(ArrayView<float> a, ArrayView<float> b, ArrayView<float> dresult, ArrayView<float> da,
        ArrayView<float> db, float scale, bool gradA, bool gradB) where TTerm : struct, IPairTerm;

    void AxisSum(ArrayView<float> x, ArrayView<float> y, AxisView v, float scale);

    /// <summary>y[j] = TOp over x[outer(j) + inner(r)] for all r (logsumexp, var, std, p-norm over a set of axes).</summary>
    void AxisSetReduce<TOp>(ArrayView<float> x, StridedLayout outer, StridedLayout inner, ArrayView<float> y, float p)
        where TOp : struct, IAxisReduction;

    /// <summary>dx[i] += dy[j]·∂y[j]/∂x[i], j = spread.Map(i); first holds the first pass when TOp needs it.</summary>
    void AxisSetReduceGrad<TOp>(ArrayView<float> x, StridedLayout spread, ArrayView<float> y, ArrayView<float> first,
        ArrayView<float> dy, ArrayView<float> dx, int n, float p) where TOp : struct, IAxisReduction;

    void AxisSumGrad(ArrayView<float> dy, ArrayView<float> dx, AxisView v, float scale);

    void AxisMax(ArrayView<float> x, ArrayView<float> y, AxisView v);

    void AxisMaxGrad(ArrayView<float> x, ArrayView<float> y, ArrayView<float> dy, ArrayView<float> dx, AxisView v);

    void Softmax(ArrayView<float> x, ArrayView<float> y, AxisView v, bool log);

    void SoftmaxGrad(ArrayView<float> y, ArrayView<float> dy, ArrayView<float> dx, AxisView v, bool log);

    // ---- fused attention (AttentionKernels) ----
    /// <summary>
    /// O = softmax(scale·Q·Kᵀ, causal-masked)·V per head; <paramref name="stats"/> holds 2·Items·L floats: the forward
    /// writes each row's log Σ e^(scale·q·k) into the first half, the backward its row dots dO·O into the second.
    /// </summary>
    void AttentionForward(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> o,
        ArrayView<float> stats, AttentionShape shape);

    /// <summary>dQ, dK, dV += the attention's gradients from dO (an empty view skips that gradient).</summary>
    void AttentionBackward(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> o,
        ArrayView<float> dOut, ArrayView<float> stats, ArrayView<float> dq, ArrayView<float> dk,
        ArrayView<float> dv, AttentionShape shape);

    // ---- fused recurrent cells (RecurrentKernels) ----
    /// <summary>
    /// One LSTM step's element-wise half from a = xGates + hGates [N, 4H] (gates i, f, g, o) and c [N, H]:
    /// state = [h′; c′] [2, N, H], saved = [i, f, g, o, tanh c′] per row [N, 5H] for the backward.
    /// </summary>
    void LstmCellForward(ArrayView<float> xGates, ArrayView<float> hGates, ArrayView<float> c, ArrayView<float> state,
        ArrayView<float> saved, RecurrentCellShape s);

    /// <summary>From dState = [dh′; dc′]: dXGates and dHGates += ∂L/∂a, dC += ∂L/∂c (an empty view skips that target).</summary>
    void LstmCellBackward(ArrayView<float> saved, ArrayView<float> c, ArrayView<float> dState,
        ArrayView<float> dXGates, ArrayView<float> dHGates, ArrayView<float> dC, RecurrentCellShape s);

    /// <summary>
    /// One GRU step's element-wise half from xGates = x·W_ihᵀ + b_ih and hGates = h·W_hhᵀ + b_hh [N, 3H] (gates r, z,
    /// n) and h [N, H]: hNext = h′ [N, H], saved = [r, z, n, h_n] per row [N, 4H].
    /// </summary>
    void GruCellForward(ArrayView<float> xGates, ArrayView<float> hGates, ArrayView<float> h, ArrayView<float> hNext,
        ArrayView<float> saved, RecurrentCellShape s);

    /// <summary>From dHNext: dXGates, dHGates and dH += their gradients (an empty view skips that target).</summary>
    void GruCellBackward(ArrayView<float> saved, ArrayView<float> h, ArrayView<float> dHNext,
        ArrayView<float> dXGates, ArrayView<float> dHGates, ArrayView<float> dH, RecurrentCellShape s);

    /// <summary>Per-row cross-entropy; <paramref name="weights"/> holds the class weights when <c>t.Weighted</c> ≠ 0.</summary>
    void CrossEntropyRows(ArrayView<float> logits, ArrayView<int> labels, ArrayView<float> rowLoss, int classes,
        ArrayView<float> weights, CrossEntropyTerms t);

    void CrossEntropyGrad(ArrayView<float> logits, ArrayView<int> labels, ArrayView<float> dloss,
        ArrayView<float> dlogits, int classes, float scale, ArrayView<float> weights, CrossEntropyTerms t);

    void ScoreSample(ArrayView<float> logits, int classes, int label, ArrayView<float> loss, ArrayView<float> scores,
        int slot);

    // ---- normalization (NormalizationKernels) ----
    /// <summary>
    /// Per-channel statistics of x = [Outer, C, Inner] into stats = [μ…, 1/√(σ² + ε)…] (from the batch, or from
    /// running = [mean…, var…]); with batch statistics and <c>s.UpdateRunning</c> also updates running.
    /// </summary>
    void ChannelStatistics(ArrayView<float> x, ArrayView<float> stats, ArrayView<float> running, ChannelView v,
        NormScalars s);

    /// <summary>y = (x − μ_c)·s_c·γ_c + β_c (batch norm's forward after <see cref="ChannelStatistics"/>).</summary>
    void ChannelNormalize(ArrayView<float> x, ArrayView<float> y, ArrayView<float> stats, ArrayView<float> weight,
        ArrayView<float> bias, ChannelView v, NormScalars s);

    /// <summary>Batch norm's backward: sums = [Σdy, Σdy·x̂] per channel (= ∂L/∂β, ∂L/∂γ); dx += ∂L/∂x when <c>s.GradInput</c>.</summary>
    void ChannelNormalizeGrad(ArrayView<float> x, ArrayView<float> dy, ArrayView<float> stats,
        ArrayView<float> weight, ArrayView<float> dx, ArrayView<float> sums, ChannelView v, NormScalars s);

    /// <summary>Layer norm over the last v.Len columns of each of v.Outer rows: stats = [μ…, s…], y = x̂·γ + β.</summary>
    void RowNormalize(ArrayView<float> x, ArrayView<float> y, ArrayView<float> stats, ArrayView<float> weight,
        ArrayView<float> bias, AxisView v, NormScalars s);

    /// <summary>Layer norm's backward: sums = [Σ_r dy, Σ_r dy·x̂] per column (= ∂L/∂β, ∂L/∂γ); dx += ∂L/∂x when <c>s.GradInput</c>.</summary>
    void RowNormalizeGrad(ArrayView<float> x, ArrayView<float> dy, ArrayView<float> stats, ArrayView<float> weight,
        ArrayView<float> dx, ArrayView<float> sums, AxisView v, NormScalars s);

    // ---- the fused per-sample step of a dense network (DenseStepKernels) ----
    /// <summary>
    /// Whether the engine should take the fused per-sample step where it applies: true on both backends today (on
    /// GPUs launches dominate a batch-1 step; on the SIMD backend the general path's graph building does).
    /// </summary>
    bool PrefersFusedOnlineStep { get; }

    /// <summary>y = act(W·x + b) for one sample (W [out, in]).</summary>
    void DenseForward(ArrayView<float> x, ArrayView<float> w, ArrayView<float> b, ArrayView<float> y, DenseStepShape s);

    /// <summary>The last layer, softmax cross-entropy against <c>s.Label</c>, the score slot and dz = softmax − onehot, in one launch.</summary>
    void DenseForwardCrossEntropy(ArrayView<float> h, ArrayView<float> w, ArrayView<float> b, ArrayView<float> logits,
        ArrayView<float> dz, ArrayView<float> scores, DenseStepShape s);

    /// <summary>One layer's backward and SGD step: dx from the old W (when <c>s.WriteDx</c>), then W += Scale·dy·xᵀ, b += Scale·dy.</summary>
    void DenseBackwardSgd(ArrayView<float> x, ArrayView<float> w, ArrayView<float> b, ArrayView<float> dy,
        ArrayView<float> dx, DenseStepShape s);

    // ---- matrix product ----
    /// <summary>
    /// C[M, N] (+)= α·op(A)[M, K] · op(B)[K, N]; the layouts say whether A and B are read transposed in place. α ≠ 1
    /// lets an update such as W ← W − η·dyᵀx run as one product (SGD fused into backward).
    /// </summary>
    void MatMul<TA, TB>(ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, int m, int n, int k,
        bool accumulate, float alpha = 1f) where TA : struct, IOperandLayout where TB : struct, IOperandLayout;

    /// <summary>
    /// C_i[M, N] (+)= op(A_i) · op(B_i) for every item i of <paramref name="itemsA"/> (and <paramref name="itemsB"/>, over
    /// the same batch shape): A_i starts at itemsA.Map(i), B_i at itemsB.Map(i) (a zero stride repeats a broadcast
    /// operand), C_i at i·M·N. Items run concurrently: the C_i must not overlap.
    /// </summary>
    void BatchedMatMul<TA, TB>(ArrayView<float> a, StridedLayout itemsA, ArrayView<float> b, StridedLayout itemsB,
        ArrayView<float> c, int m, int n, int k, bool accumulate) where TA : struct, IOperandLayout
        where TB : struct, IOperandLayout;

    // ---- convolution and pooling (ConvolutionKernels, PoolingKernels) ----
    /// <summary>
    /// y = conv(x, w) + b with zero padding (<see cref="ConvGeometry"/>), y [N, OC, OH, OW] overwritten; b [OC], or an
    /// empty view for no bias.
    /// </summary>
    void ConvForward(ArrayView<float> x, ArrayView<float> w, ArrayView<float> bias, ArrayView<float> y, ConvGeometry g);

    /// <summary>dx (+)= ∂⟨dy, conv(x, w)⟩/∂x = col2im(wᵀ·dy) per image and group (also a transposed convolution's forward).</summary>
    void ConvBackwardInput(ArrayView<float> dy, ArrayView<float> w, ArrayView<float> dx, ConvGeometry g, bool accumulate);

    /// <summary>dw (+)= ∂⟨dy, conv(x, w)⟩/∂w = Σ_n dy_n·col(x_n)ᵀ per group.</summary>
    void ConvBackwardWeight(ArrayView<float> x, ArrayView<float> dy, ArrayView<float> dw, ConvGeometry g, bool accumulate);

    /// <summary>y = max over each window (NaN wins, as in PyTorch), indices = the winner's h·W + w in its plane.</summary>
    void MaxPool(ArrayView<float> x, ArrayView<float> y, ArrayView<int> indices, PoolGeometry g);

    /// <summary>dx[plane, indices[j]] += dy[j], in output order within each plane.</summary>
    void MaxPoolGrad(ArrayView<float> dy, ArrayView<int> indices, ArrayView<float> dx, PoolGeometry g);

    /// <summary>y = Σ window / divisor (<see cref="PoolGeometry.AverageDivisor"/>).</summary>
    void AvgPool(ArrayView<float> x, ArrayView<float> y, PoolGeometry g);

    /// <summary>dx += dy / divisor at every tap of each window inside the plane.</summary>
    void AvgPoolGrad(ArrayView<float> dy, ArrayView<float> dx, PoolGeometry g);

    // ---- optimizer update rules (OptimizerKernels) ----
    void SgdStep(ArrayView<float> p, ArrayView<float> g, ArrayView<float> buf, UpdateScalars s);

    void AdaGradStep(ArrayView<float> p, ArrayView<float> g, ArrayView<float> sum, UpdateScalars s);

    void RmsPropStep(ArrayView<float> p, ArrayView<float> g, ArrayView<float> squareAvg, ArrayView<float> gradAvg,
        ArrayView<float> buf, UpdateScalars s);

    void AdadeltaStep(ArrayView<float> p, ArrayView<float> g, ArrayView<float> squareAvg, ArrayView<float> accDelta,
        UpdateScalars s);

    void AdamStep(ArrayView<float> p, ArrayView<float> g, ArrayView<float> m, ArrayView<float> v,
        ArrayView<float> vMax, UpdateScalars s);

    void AdamaxStep(ArrayView<float> p, ArrayView<float> g, ArrayView<float> m, ArrayView<float> u, UpdateScalars s);

    void NAdamStep(ArrayView<float> p, ArrayView<float> g, ArrayView<float> m, ArrayView<float> v, UpdateScalars s);

    void RAdamStep(ArrayView<float> p, ArrayView<float> g, ArrayView<float> m, ArrayView<float> v, UpdateScalars s);

    void LionStep(ArrayView<float> p, ArrayView<float> g, ArrayView<float> m, UpdateScalars s);

    /// <summary>LAMB over <paramref name="starts"/>.Length − 1 segments (one per parameter tensor).</summary>
    void LambStep(ArrayView<float> p, ArrayView<float> g, ArrayView<float> m, ArrayView<float> v,
        ArrayView<float> scratch, ArrayView<int> starts, UpdateScalars s);

    void EffectiveGradientNormSquared(ArrayView<float> p, ArrayView<float> g, ArrayView<float> result,
        UpdateScalars s);

    void AdaptiveSgdStep(ArrayView<float> p, ArrayView<float> g, ArrayView<float> normSq, UpdateScalars s);

    void ScaleToNorm(ArrayView<float> g, ArrayView<float> normSq, float maxNorm);
}
