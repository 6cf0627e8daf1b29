{
  description = "forge-coordinator: a Telegram bot that hands each message to an AI agent without ever blocking its poll loop";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs =
    { self, nixpkgs }:
    let
      # A home server may be either.
      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      forAllSystems = f: builtins.listToAttrs (map (system: {
        name = system;
        value = f nixpkgs.legacyPackages.${system};
      }) systems);

      project = import ./nix/project.nix { root = ./.; };

      # The whole tree (flakes copy only the files git tracks), for the checks.
      src = self.outPath;
      # Part of the name of the network-using checks below, so that a new source runs them again.
      srcTag = builtins.substring 0 16 (builtins.hashString "sha256" (builtins.unsafeDiscardStringContext src));
    in
    {
      packages = forAllSystems (pkgs: {
        default = pkgs.callPackage ./nix/package.nix { inherit project; };
      });

      apps = forAllSystems (pkgs: {
        default = {
          type = "app";
          program = "${self.packages.${pkgs.stdenv.hostPlatform.system}.default}/bin/forge-coordinator";
          meta.description = "Run forge-coordinator with the configuration in the environment";
        };
      });

      devShells = forAllSystems (pkgs: {
        default = pkgs.mkShell {
          # What `deno task test` and .ci/run use: systemd for systemd-analyze, nix for
          # nix-instantiate, procps for the process checks.
          packages = with pkgs; [
            deno
            bash
            coreutils
            procps
            shellcheck
            systemd
            nix
          ];
        };
      });

      checks = forAllSystems (
        pkgs:
        let
          deno = "${pkgs.deno}/bin/deno";
          offline =
            name: command:
            pkgs.runCommand "forge-coordinator-${name}" { } ''
              export HOME="$TMPDIR" DENO_DIR="$TMPDIR/deno" DENO_NO_UPDATE_CHECK=1 NO_COLOR=1
              cd ${src}
              ${command}
              touch "$out"
            '';
          # `deno check` and the tests need the npm packages deno.lock pins, which Deno fetches,
          # and the build sandbox has no network. A fixed-output derivation does get the network;
          # its output is always the two bytes "ok\n", whose hash is known, so no hash here waits
          # for a real build to be filled in.
          networked =
            name: command:
            pkgs.runCommand "forge-coordinator-${name}-${srcTag}"
              {
                nativeBuildInputs = with pkgs; [
                  deno
                  bash
                  coreutils
                  procps
                  shellcheck
                ];
                outputHashMode = "flat";
                outputHashAlgo = "sha256";
                outputHash = "dc51b8c96c2d745df3bd5590d990230a482fd247123599548e0632fdbf97fc22";
              }
              ''
                export HOME="$TMPDIR" DENO_DIR="$TMPDIR/deno" DENO_NO_UPDATE_CHECK=1 NO_COLOR=1
                cp -r ${src} "$TMPDIR/src" && chmod -R u+w "$TMPDIR/src" && cd "$TMPDIR/src"
                # The sandbox has no /usr/bin/env: shebangs point into the store, and any other
                # use of /usr/bin/env is rewritten or, if it can't be, named and fatal.
                patchShebangs --build . >/dev/null
                bash nix/sandbox-prep.sh
                ${command}
                echo ok > "$out"
              '';
        in
        {
          fmt = offline "fmt" "${deno} fmt --check";
          lint = offline "lint" "${deno} lint";
          check = networked "check" "${deno} check --frozen .";
          # The README's test command. Tools it lacks here (nix, systemd-analyze) are ignored steps.
          test = networked "test" "${deno} task test";
          package = self.packages.${pkgs.stdenv.hostPlatform.system}.default;
        }
      );

      formatter = forAllSystems (pkgs: pkgs.nixfmt);

      # `services.forge-coordinator` for home-manager: `homeModules` is the name newer tooling
      # reads, `homeManagerModules` the older one; both are the same module.
      homeModules.default = import ./nix/home-manager.nix { inherit self; };
      homeManagerModules.default = self.homeModules.default;

      # For NixOS without home-manager: `services.forge-coordinator.<user>`, the same user unit
      # for a named user (see ./nix/nixos.nix).
      nixosModules.default = import ./nix/nixos.nix { inherit self; };
    };
}
