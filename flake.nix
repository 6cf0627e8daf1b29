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
          # What `deno task test` and .ci/run use: systemd for systemd-analyze and
          # systemd-notify, nix for nix-instantiate, procps and util-linux for the process checks.
          packages = with pkgs; [
            deno
            bash
            coreutils
            procps
            util-linux
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
          # What the network-using checks run with: every tool the tests call (ps, setsid and
          # unshare, systemd-notify and systemd-analyze, shellcheck), besides stdenv's own. The
          # tests that need a tool still missing here (nix, git, npm, the Claude CLI, root for a
          # mount namespace) are ignored, and the check says which and why.
          # (pkgs.deno, not `deno`: that name is the binary's path in here.)
          tools = with pkgs; [
            pkgs.deno
            bash
            coreutils
            procps
            util-linux
            systemd
            shellcheck
          ];
          # `deno check` and the tests need the npm packages deno.lock pins, which Deno fetches,
          # and the build sandbox has no network. A fixed-output derivation does get the network;
          # its output is always the two bytes "ok\n", whose hash is known, so no hash here waits
          # for a real build to be filled in. A fixed output is built once per name, so the name
          # carries a digest of what the check depends on: the source (this file and its list of
          # tools among it) and nixpkgs, where Deno and the tools come from. A new source, or a
          # nixpkgs update (a new Deno), runs the check again.
          tag = builtins.substring 0 16 (
            builtins.hashString "sha256" (
              builtins.unsafeDiscardStringContext "${src} ${nixpkgs.narHash or nixpkgs.rev or ""}"
            )
          );
          networked =
            name: command:
            pkgs.runCommand "forge-coordinator-${name}-${tag}"
              {
                nativeBuildInputs = tools;
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
          # The README's test command. The tests that need what the sandbox hasn't are ignored:
          # said first, so that an ignored test is never taken for a passed one.
          test = networked "test" ''
            for tool in nix nix-instantiate git npm claude; do
              command -v "$tool" >/dev/null ||
                echo "forge-coordinator check: no $tool in the build sandbox: the tests that need it are ignored"
            done
            [ "$(id -u)" = 0 ] ||
              echo "forge-coordinator check: not root: the test that hides /usr/bin/env in a mount namespace is ignored"
            ${deno} task test
          '';
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
