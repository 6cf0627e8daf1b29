# A stand-in for the few nixpkgs `lib` functions nix/home-manager.nix uses, for evaluating the
# module offline in tests/packaging_test.ts. Option declarations are returned as plain attribute
# sets (the test reads their defaults); `mkIf` keeps its condition and content.
let
  type = name: { inherit name; };
in
rec {
  mkOption = attrs: attrs // { _type = "option"; };
  mkEnableOption = name: mkOption {
    default = false;
    description = "Whether to enable ${name}.";
  };
  mkIf = condition: content: { _type = "if"; inherit condition content; };
  literalExpression = text: { _type = "literalExpression"; inherit text; };
  types = {
    str = type "str";
    int = type "int";
    float = type "float";
    package = type "package";
    bool = type "bool";
    numbers = {
      positive = type "positiveNumber";
      nonnegative = type "nonnegativeNumber";
    };
    ints = {
      positive = type "positiveInt";
      between = lo: hi: type "intBetween ${toString lo} ${toString hi}";
    };
    either = a: b: type "either ${a.name} ${b.name}";
    oneOf = ts: type "oneOf";
    nullOr = t: type "nullOr ${t.name}";
    listOf = t: type "listOf ${t.name}";
    nonEmptyListOf = t: type "nonEmptyListOf ${t.name}";
    attrsOf = t: type "attrsOf ${t.name}";
    submodule = m: type "submodule" // { options = m.options; };
  };
  optional = cond: x: if cond then [ x ] else [ ];
  optionalAttrs = cond: attrs: if cond then attrs else { };
  mapNullable = f: x: if x == null then null else f x;
  concatStringsSep = builtins.concatStringsSep;
  concatMapStringsSep = sep: f: xs: builtins.concatStringsSep sep (map f xs);
  makeBinPath = ps: builtins.concatStringsSep ":" (map (p: "${p}/bin") ps);
  getExe = p: "${p}/bin/${p.meta.mainProgram}";
  fetchers.proxyImpureEnvVars = [ "http_proxy" "https_proxy" ];
}
