# The bot's settings as module options: one per variable lib/shared/config.ts reads (but the token,
# which the modules hand over as a credential, see `tokenFile`). Shared by ./home-manager.nix and
# ./nixos.nix; tests/packaging_test.ts checks that every variable lib/shared/config.ts reads has its
# option here and its line in systemd/forge-coordinator.env.example.
#
# Each entry: the variable, the option's type, default and description. An option whose value is
# null (or an empty list) leaves its variable unset: the bot's own default applies.
{ lib }:
let
  inherit (lib) types;
  command = types.either types.str (types.listOf types.str);
  # A command as the bot reads it: a list becomes a JSON array, which keeps spaces inside words.
  renderCommand = c: if builtins.isList c then builtins.toJSON c else c;
  renderIds = ids: builtins.concatStringsSep "," (map toString ids);
in
{
  authorizedUserIds = {
    variable = "COORD_AUTHORIZED_USER_IDS";
    type = types.nonEmptyListOf types.ints.positive;
    example = [ 123456789 ];
    render = renderIds;
    description = "Telegram user ids allowed to talk to the brain. Required.";
  };
  allowedChatIds = {
    variable = "COORD_ALLOWED_CHAT_IDS";
    type = types.listOf types.int;
    default = [ ];
    example = [ 123456789 (-1001234567890) ];
    render = ids: if ids == [ ] then null else renderIds ids;
    description = ''
      Groups the bot answers in (a group's id is negative), for their members in
      `authorizedUserIds`. An authorized user's own private chat is always answered. Empty: no
      group.
    '';
  };
  apiRoot = {
    variable = "COORD_API_ROOT";
    type = types.str;
    default = "https://api.telegram.org";
    description = "Bot API root: a local Bot API server, or a simulator.";
  };
  brainCommand = {
    variable = "COORD_BRAIN_CMD";
    type = types.nullOr command;
    default = null;
    example = [ "claude" "-p" "--model" "sonnet" ];
    render = c: if c == null then null else renderCommand c;
    description = ''
      The brain's command line: a list of words, or one string split at whitespace. `null` is the
      bot's default: `claude -p`, plus `--append-system-prompt-file <persona>` when `personaFile`
      is set. A command whose program is named `claude` is run by the Claude driver (see
      `brainKind`).
    '';
  };
  brainKind = {
    variable = "COORD_BRAIN_KIND";
    type = types.nullOr (types.enum [ "claude" "plain" ]);
    default = null;
    example = "plain";
    description = ''
      The brain's protocol: `claude` (the Claude driver: stream-json in and out, one conversation
      per chat, progress notes, the cost line, usage-limit waits) or `plain` (the message on stdin,
      the reply on stdout). `null`: `claude` when the command's program is named `claude`, else
      `plain`.
    '';
  };
  brainWorkdir = {
    variable = "COORD_BRAIN_WORKDIR";
    type = types.nullOr types.str;
    default = null;
    example = "/home/me/notes";
    description = "The brain's working folder. `null`: `<stateDir>/brain`.";
  };
  personaFile = {
    variable = "COORD_PERSONA_FILE";
    type = types.nullOr types.str;
    default = null;
    description = "Persona / system-prompt file handed to the brain; must be readable.";
  };
  brainTimeoutSeconds = {
    variable = "COORD_BRAIN_TIMEOUT_S";
    type = types.numbers.positive;
    default = 300;
    description = "One brain attempt's limit, in seconds (decimals allowed).";
  };
  brainMaxIters = {
    variable = "COORD_BRAIN_MAX_ITERS";
    type = types.ints.positive;
    default = 3;
    description = "Brain attempts per message.";
  };
  maxConcurrentBrains = {
    variable = "COORD_MAX_CONCURRENT_BRAINS";
    type = types.ints.positive;
    default = 4;
    description = "Messages worked on at once (live handler processes), across chats.";
  };
  maxBacklog = {
    variable = "COORD_MAX_BACKLOG";
    type = types.ints.positive;
    default = 1000;
    description = "Messages waiting or running beyond which the bot stops fetching new ones.";
  };
  downloadTimeoutSeconds = {
    variable = "COORD_DOWNLOAD_TIMEOUT_S";
    type = types.numbers.positive;
    default = 600;
    description = "The longest a photo, document or voice download may take, in seconds.";
  };
  downloadStallSeconds = {
    variable = "COORD_DOWNLOAD_STALL_S";
    type = types.numbers.positive;
    default = 60;
    description = "The longest a download may go without receiving a byte, in seconds.";
  };
  transcribeTimeoutSeconds = {
    variable = "COORD_TRANSCRIBE_TIMEOUT_S";
    type = types.numbers.positive;
    default = 300;
    description = "The longest the voice transcriber may run, in seconds.";
  };
  replyPatienceSeconds = {
    variable = "COORD_REPLY_PATIENCE_S";
    type = types.numbers.nonnegative;
    default = 3600;
    description = ''
      How long one reply call keeps waiting out 429, 5xx and network errors, in seconds, before
      the answer is kept in `undelivered/` instead.
    '';
  };
  maxReplyParts = {
    variable = "COORD_MAX_REPLY_PARTS";
    type = types.ints.positive;
    default = 5;
    description = "An answer longer than this many messages goes as its beginning plus a .md document.";
  };
  showCost = {
    variable = "COORD_SHOW_COST";
    type = types.bool;
    default = false;
    description = "Add the Claude brain's cost, duration and turns under each answer.";
    render = on: if on then "1" else "0";
  };
  busyMode = {
    variable = "COORD_BUSY_MODE";
    type = types.enum [ "queue" "steer" ];
    default = "queue";
    description = ''
      What a plain message does while its chat's brain works: `queue` (it waits its turn) or
      `steer` (it goes into the working Claude turn). A reply to the working message, `/steer …`
      and `!…` choose for themselves.
    '';
  };
  approvals = {
    variable = "COORD_APPROVALS";
    type = types.enum [ "off" "phone" ];
    default = "off";
    description = ''
      Who answers a Claude brain's asks to use a tool: `off` (nobody: every ask is refused at
      once) or `phone` (the person, with Allow / Always allow / Deny buttons).
    '';
  };
  approvalTimeoutSec = {
    variable = "COORD_APPROVAL_TIMEOUT_S";
    type = types.ints.positive;
    default = 900;
    description = "How long an ask waits for the person before it is denied (seconds).";
  };
  lockDir = {
    variable = "COORD_LOCK_DIR";
    type = types.nullOr types.str;
    default = null;
    description = ''
      Where the per-chat locks live: a folder of ours that no one else can write (else the bot
      stops at start); if it is missing, the handlers warn and answer without the lock. `null`: the
      unit's runtime directory, `$XDG_RUNTIME_DIR/forge-coordinator`, made at start and removed
      at stop.
    '';
  };
  stateDir = {
    variable = "COORD_STATE_DIR";
    type = types.nullOr types.str;
    default = null;
    description = ''
      The journal, heartbeat and other state. `null`: the unit's,
      `~/.local/state/forge-coordinator`.
    '';
  };
  transcribeCommand = {
    variable = "COORD_TRANSCRIBE_CMD";
    type = types.nullOr command;
    default = null;
    render = c: if c == null then null else renderCommand c;
    description = ''
      Voice transcriber: the audio file's path is appended, it prints the transcript. `null`:
      voice notes get a "voice is not set up" reply.
    '';
  };
  pollTimeoutSeconds = {
    variable = "COORD_POLL_TIMEOUT_S";
    type = types.ints.between 0 50;
    default = 30;
    description = "`getUpdates` long-poll timeout, in seconds.";
  };
  poisonLimit = {
    variable = "COORD_POISON_LIMIT";
    type = types.ints.positive;
    default = 3;
    description = "Handlers started for one message (across restarts) before the bot gives up on it.";
  };
  spareHandlers = {
    variable = "COORD_SPARE_HANDLERS";
    type = types.ints.between 0 16;
    default = 0;
    description = "Handlers kept started ahead of their messages, so that a brain needn't wait for a process start (the 👀 comes from the desk either way; on 2 cores a spare costs the 👀 more than it saves, see BENCHMARKS.md).";
  };
  waitNoteSeconds = {
    variable = "COORD_WAIT_NOTE_S";
    type = types.numbers.nonnegative;
    default = 60;
    description = "A reply to a message that waited at least this long for its chat's turn says how long.";
  };
}
