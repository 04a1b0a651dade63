using ILGPU;

namespace Engine.Kernels;

/// <summary>How a logical [rows, cols] operand is stored.</summary>
public interface IOperandLayout
{
    float Load(ArrayView<float> m, int row, int col, int rows, int cols);

    /// <summary>Whether the operand is stored transposed (how the SIMD GEMM's packing reads it).</summary>
    bool IsTransposed { get; }
}

/// <summary>Stored as itself, row-major [rows, cols]: element (r, c) at r·cols + c.</summary>
public struct AsStored : IOperandLayout
{
    public float Load(ArrayView<float> m, int row, int col, int rows, int cols) => m[row * cols + col];

    public bool IsTransposed => false;
}

/// <summary>Stored transposed, row-major [cols, rows]: element (r, c) at c·rows + r. No copy is made.</summary>
public struct AsTransposed : IOperandLayout
{
    public float Load(ArrayView<float> m, int row, int col, int rows, int cols) => m[col * rows + row];

    public bool IsTransposed => true;
}
