/// The public, torch-named ops of the engine. Each family file extends `Ops` beside the primitives
/// it uses; every op validates its arguments, then calls `emit`, so it works the same on concrete
/// tensors and on traced values.
public enum Ops {}
