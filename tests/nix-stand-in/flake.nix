# A stand-in for nixpkgs, for tests/packaging_test.ts: just the attributes flake.nix uses, as
# derivations that evaluate offline (`nix flake check --no-build` never builds them). Override the
# real input with it: `--override-input nixpkgs path:<this folder>`.
{
  outputs =
    { self }:
    let
      lib = import ./lib.nix;
      forSystem =
        system:
        let
          fake =
            name: extra:
            derivation {
              inherit name system;
              builder = "/bin/sh";
              args = [
                "-c"
                "echo stand-in > $out"
              ];
            }
            // extra;
          pkgs = {
            inherit lib;
            stdenv.hostPlatform.system = system;
            deno = fake "deno-2.9.6" { version = "2.9.6"; };
            bash = fake "bash" { };
            coreutils = fake "coreutils" { };
            procps = fake "procps" { };
            util-linux = fake "util-linux" { };
            nodejs = fake "nodejs" { };
            cacert = fake "cacert" { };
            shellcheck = fake "shellcheck" { };
            systemd = fake "systemd" { };
            nix = fake "nix" { };
            nixfmt = fake "nixfmt" { };
            callPackage =
              fn: args:
              let
                f = if builtins.isFunction fn then fn else import fn;
              in
              f (builtins.intersectAttrs (builtins.functionArgs f) pkgs // args);
            writeShellApplication =
              { name, text, meta ? { }, ... }:
              fake name { inherit meta; passthru.text = text; };
            mkShell = { packages ? [ ], ... }: fake "shell" { };
            fetchurl =
              { name, url, hash, ... }:
              fake name { inherit url hash; };
            runCommand = name: env: script: derivation ({
              inherit name system;
              builder = "/bin/sh";
              args = [ "-c" script ];
            } // env);
          };
        in
        pkgs;
    in
    {
      inherit lib;
      legacyPackages = {
        x86_64-linux = forSystem "x86_64-linux";
        aarch64-linux = forSystem "aarch64-linux";
      };
    };
}
