using Examples;

// dotnet run --project Examples -c Release [-- --device cpu|cuda|opencl|auto] [--epochs N] [--lr X]
string device = "auto";
int epochs = 2000;
float lr = 1f;
for (int i = 0; i < args.Length; i++)
{
    string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
    switch (args[i])
    {
        case "--device": device = Next(); break;
        case "--epochs": epochs = int.Parse(Next(), System.Globalization.CultureInfo.InvariantCulture); break;
        case "--lr": lr = float.Parse(Next(), System.Globalization.CultureInfo.InvariantCulture); break;
        default:
            Console.Error.WriteLine($"unknown argument '{args[i]}'. Use --device, --epochs, --lr.");
            return 2;
    }
}
return SpiralClassifier.Run(device, epochs, lr);
