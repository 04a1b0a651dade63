namespace Engine.Training;

/// <summary>
/// Training stopped because the loss became NaN or ±∞ (the message names where and suggests remedies). A
/// hyperparameter search scores such a trial as diverged instead of stopping.
/// </summary>
public sealed class TrainingDivergedException(string message) : InvalidOperationException(message);
