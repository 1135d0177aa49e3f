// The F# quick start: the state of a small Flax-style model, filtered, split, merged, updated with
// a gradient step, and sent through JSON and back. Run: dotnet run --project samples/QuickStart.FSharp
open System.Collections.Generic
open System.Text.Json
open StateTree
open StateTree.FSharp

let orFail result =
    match result with
    | Ok value -> value
    | Error(errors: StateError list) -> failwith (errors |> List.map _.Message |> String.concat "\n")

// Flax's BatchNorm + Linear example, plus a list of two layers (int keys).
let model =
    State.ofList
        [ "batchnorm"
          => State.ofList
              [ "bias" => Param [| 0.0; 0.0 |]
                "scale" => Param [| 1.0; 1.0 |]
                "mean" => BatchStat [| 0.0; 0.0 |]
                "var" => BatchStat [| 1.0; 1.0 |] ]
          "linear"
          => State.ofList [ "bias" => Param [| 0.0; 0.0 |]; "kernel" => Param [| 0.5; -0.5 |] ]
          "layers"
          => State.ofList
              [ 0 => State.ofList [ "kernel" => Param [| 1.0 |] ]
                1 => State.ofList [ "kernel" => Param [| 2.0 |] ] ]
          "count" => RngCount 0 ]

printfn "The model state (%d leaves):\n%O\n" model.LeafCount model

// Split into parameters, batch statistics and the rest; merging the groups gives the state back.
let groups =
    model
    |> State.split [ Filter.ofType<Param>; Filter.ofType<BatchStat>; Filter.Everything ]
    |> orFail

let parameters, stats = groups.[0], groups.[1]

printfn
    "Params: %d leaves, BatchStats: %d leaves, rest: %d leaves"
    parameters.LeafCount
    stats.LeafCount
    groups.[2].LeafCount

printfn "merge (split s) = s: %b\n" (State.merge groups = model)

// A gradient step: zip parameters with gradients of the same shape, then merge back.
let gradients =
    parameters
    |> State.select (fun leaf ->
        match leaf with
        | :? Param as p -> box (Array.create (unbox<float array> p.Value).Length 0.1)
        | other -> other)

let step =
    State.zip
        (fun param grad ->
            match param with
            | :? Param as p -> box (p.WithValue(Array.map2 (fun w g -> w - 0.5 * g) (unbox p.Value) (unbox grad)))
            | other -> other)
        parameters
        gradients
    |> orFail

let updated = State.merge [ model; step ]

match State.tryFindPath (KeyPath.Of("linear", "kernel")) updated with
| Some(Child.Leaf(:? Param as kernel)) -> printfn "After one SGD step, linear/kernel = %A\n" kernel.Value
| other -> printfn "unexpected: %A" other

// The pure-dict round trip through JSON: int keys come back as ints.
let json = JsonSerializer.Serialize(State.toPureDict updated)
printfn "As JSON: %s\n" json

let restored =
    JsonSerializer.Deserialize<Dictionary<string, obj>>(json)
    |> nonNull
    |> State.restoreIntPaths
    |> orFail

let keysOfLayers =
    match restored.["layers"] with
    | :? Dictionary<obj, obj | null> as layers -> layers.Keys :> obj seq
    | _ -> Seq.empty
    |> Seq.map (fun k -> $"{k} ({k.GetType().Name})")
    |> String.concat ", "

printfn "Layer keys after RestoreIntPaths: %s" keysOfLayers
let loaded = updated |> State.replaceByPureDict restored |> orFail
printfn "Loaded state equals the saved one: %b" (loaded = updated)

// Every unknown path is reported at once, in Flax's tuple notation.
let wrong =
    dict
        [ "layers", box (dict [ "5", box (dict [ "kernel", box 1.0 ]) ])
          "linaer", box 2.0 ]

match State.replaceByPureDict wrong updated with
| Ok _ -> printfn "unexpected success"
| Error errors ->
    printfn "\nA mistyped checkpoint is refused with every problem:"

    for e in errors do
        printfn "  %s" e.Message
