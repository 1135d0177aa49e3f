/// The README's F# tour, line for line, with its comments checked.
module StateTree.Core.Tests.ReadmeTests

open System.Collections.Generic
open System.Text.Json
open Xunit
open StateTree
open StateTree.FSharp

[<Fact>]
let ``the README's F# tour`` () =
    // ---- from README.md, "An F# tour" ----
    let model =
        State.ofList
            [ "linear" => State.ofList [ "bias" => Param 0.0; "kernel" => Param 0.5 ]
              "bn" => State.ofList [ "mean" => BatchStat 0.0 ]
              "layers" => State.ofList [ 0 => State.ofList [ "kernel" => Param 1.0 ] ] ]

    let merged =
        model
        |> State.split [ Filter.ofType<Param>; Filter.Everything ] // Result<State list, StateError list>
        |> Result.map State.merge // Ok model

    let json = JsonSerializer.Serialize(State.toPureDict model) // the layer's key 0 is written "0"

    let again =
        JsonSerializer.Deserialize<Dictionary<string, obj>>(json)
        |> nonNull
        |> State.restoreIntPaths // "0" becomes 0 again
        |> Result.bind (fun dict -> State.replaceByPureDict dict model) // Ok model

    let halved =
        model
        |> State.where (fun leaf -> leaf :? Param)
        |> State.select (function
            | :? Param as p -> p.WithValue(unbox<float> p.Value * 0.5)
            | other -> other)
    // ---- end of the README's code ----

    Assert.Equal(Ok model, merged)
    Assert.Contains("\"layers\":{\"0\":", json)
    Assert.Equal(Ok model, again)
    Assert.Equal(3, halved.LeafCount)

    match State.tryFindPath (KeyPath.Of("linear", "kernel")) halved with
    | Some(Child.Leaf(:? Param as p)) -> Assert.Equal(box 0.25, p.Value)
    | other -> failwith $"unexpected %A{other}"
