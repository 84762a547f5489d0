/**
 * Shell completion scripts, generated from the commands' own tables (`Command.flags`), so that
 * they offer what the parsers read: commands, each command's flags, the values of flags with a
 * fixed set (`--pull always|missing|never`), and the stored package references for the commands
 * that take one (asked of `ebpm ls -q` when the user presses Tab). Pure text.
 */
import { assertNever } from '../core/errors.js';
import type { Command, Flag } from './command.js';

export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

/** The commands whose arguments include stored package references (what their operands are is not in their tables). */
const TAKES_STORED: ReadonlySet<string> = new Set(['run', 'inspect', 'rm', 'push', 'export', 'tag', 'cp', 'verify']);
/** The commands whose arguments include paths (files or directories). */
const TAKES_PATHS: ReadonlySet<string> = new Set(['build', 'check', 'inspect', 'run', 'push', 'export', 'import', 'verify', 'sign', 'keygen']);
/** Flags every command takes, before or after it (main.ts). */
const GLOBAL = ['--json', '--plain-http', '--help', '--version'];

/** `flagChoices` are the values of a flag whose value name lists them (`always|missing|never`), else none. */
export function flagChoices(flag: Flag): string[] {
  const m = /^<?([\w.-]+(?:\|[\w.-]+)+)>?$/.exec(flag.valueName ?? '');
  return m === null ? [] : m[1]!.split('|');
}

/** Every flag spelling of a command: `--long`, `-s`, and `--help`. */
function spellings(cmd: Command): string[] {
  const flags = Object.entries(cmd.flags ?? {});
  return [...flags.flatMap(([long, f]) => [`--${long}`, ...(f.short === undefined ? [] : [`-${f.short}`])]), '--help'];
}

/** The spellings of a command's flags that take a value: the word after one is that value. */
function valued(cmd: Command): string[] {
  return Object.entries(cmd.flags ?? {}).flatMap(([long, f]) => (f.type === 'string' ? [`--${long}`, ...(f.short === undefined ? [] : [`-${f.short}`])] : []));
}

/**
 * The reading of the line shared by bash and zsh (whose bashcompinit runs it): the words up to the
 * cursor split on blanks, not on bash's COMP_WORDBREAKS (a reference's `:` is part of it), the
 * command as the first word that is no flag (--plain-http's value skipped), the word before.
 */
function shScript(cmds: readonly Command[]): string {
  const names = cmds.map((c) => c.name).join(' ');
  const perCommand = cmds.map((c) => {
    const choices = Object.entries(c.flags ?? {}).flatMap(([long, f]) => {
      const values = flagChoices(f);
      return values.length === 0 ? [] : [`      --${long}) COMPREPLY=($(compgen -W '${values.join(' ')}' -- "$cur")); return ;;`];
    });
    return [
      `  ${c.name})`,
      `    flags='${spellings(c).join(' ')}'`,
      `    valued='${valued(c).join(' ')}'`,
      ...(choices.length === 0 ? [] : ['    case $prev in', ...choices, '    esac']),
      `    refs=${TAKES_STORED.has(c.name) ? 1 : ''} paths=${TAKES_PATHS.has(c.name) ? 1 : ''}${c.name === 'completion' ? ` args='${SHELLS.join(' ')}'` : ''}`,
      '    ;;',
    ].join('\n');
  });
  return `_ebpm() {
  [ -n "\${ZSH_VERSION-}" ] && emulate -L ksh
  local line="\${COMP_LINE:0:$COMP_POINT}" words cur prev cmd= i flags= valued= refs= paths= args=
  if [ -n "\${ZSH_VERSION-}" ]; then read -rA words <<<"$line"; else read -ra words <<<"$line"; fi
  # zsh's read keeps an empty word after trailing blanks.
  while ((\${#words[@]})) && [[ -z \${words[\${#words[@]}-1]} ]]; do words=("\${words[@]:0:\${#words[@]}-1}"); done
  if [[ -z $line || $line == *[[:space:]] ]]; then cur=; else
    cur=\${words[\${#words[@]}-1]}
    words=("\${words[@]:0:\${#words[@]}-1}")
  fi
  prev=\${words[\${#words[@]}-1]}
  for ((i = 1; i < \${#words[@]}; i++)); do
    case \${words[i]} in
    --plain-http) ((i++)) ;;
    -*) ;;
    *) cmd=\${words[i]}; break ;;
    esac
  done
  COMPREPLY=()
  if [[ $prev == --plain-http ]]; then return; fi
  case $cmd in
  '') COMPREPLY=($(compgen -W '${names} ${GLOBAL.join(' ')}' -- "$cur")); return ;;
  help) COMPREPLY=($(compgen -W '${names} --man' -- "$cur")); return ;;
${perCommand.join('\n')}
  *) return ;;
  esac
  if [[ " $valued " == *" $prev "* ]]; then
    COMPREPLY=($(compgen -f -- "$cur"))
  elif [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$flags" -- "$cur"))
  else
    if [[ -n $args ]]; then COMPREPLY=($(compgen -W "$args" -- "$cur")); fi
    if [[ -n $refs ]]; then
      COMPREPLY=($(compgen -W "$("\${words[0]}" ls -q 2>/dev/null)" -- "$cur"))
    fi
    if [[ -n $paths ]]; then COMPREPLY+=($(compgen -f -- "$cur")); fi
  fi
  # bash completes the text after the last COMP_WORDBREAKS character: a reference's tag, after ':'.
  if [[ -z \${ZSH_VERSION-} && $cur == *:* && $COMP_WORDBREAKS == *:* ]]; then
    local pre=\${cur%"\${cur##*:}"}
    COMPREPLY=("\${COMPREPLY[@]#"$pre"}")
  fi
}
`;
}

/** `fishQuote` is `text` in fish's single quotes. */
function fishQuote(text: string): string {
  return `'${text.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;
}

function fishScript(cmds: readonly Command[]): string {
  const names = cmds.map((c) => c.name).join(' ');
  const lines = [
    '# ebpm completion for fish: ebpm completion fish > ~/.config/fish/completions/ebpm.fish',
    // The stored references, as the ebpm being completed lists them.
    'function __ebpm_stored',
    '    set -l ebpm (commandline -opc)[1]',
    '    command $ebpm ls -q 2>/dev/null',
    'end',
    `complete -c ebpm -n 'not __fish_seen_subcommand_from ${names}' -f`,
    // Files only where a command takes a path.
    `complete -c ebpm -n '__fish_seen_subcommand_from ${cmds
      .filter((c) => !TAKES_PATHS.has(c.name))
      .map((c) => c.name)
      .join(' ')}' -f`,
    ...cmds.map((c) => `complete -c ebpm -n 'not __fish_seen_subcommand_from ${names}' -a ${c.name} -d ${fishQuote(c.summary)}`),
    `complete -c ebpm -n '__fish_seen_subcommand_from help' -f -a '${names}'`,
    'complete -c ebpm -l json -d ' + fishQuote('print the result as JSON on stdout'),
    'complete -c ebpm -l plain-http -x -d ' + fishQuote('speak plain HTTP to this registry'),
  ];
  for (const c of cmds) {
    const when = `-n '__fish_seen_subcommand_from ${c.name}'`;
    for (const [long, f] of Object.entries(c.flags ?? {})) {
      if (long === 'json') continue;
      const choices = flagChoices(f);
      const value = f.type !== 'string' ? '' : choices.length > 0 ? ` -x -a '${choices.join(' ')}'` : ' -r';
      lines.push(`complete -c ebpm ${when}${f.short === undefined ? '' : ` -s ${f.short}`} -l ${long}${value} -d ${fishQuote(f.description)}`);
    }
    if (TAKES_STORED.has(c.name)) lines.push(`complete -c ebpm ${when} -a '(__ebpm_stored)'`);
    if (c.name === 'completion') lines.push(`complete -c ebpm ${when} -f -a '${SHELLS.join(' ')}'`);
  }
  return `${lines.join('\n')}\n`;
}

/** `completionScript` is the completion of `shell` for the commands `cmds`. */
export function completionScript(shell: Shell, cmds: readonly Command[]): string {
  switch (shell) {
    case 'bash':
      return `# ebpm completion for bash: source <(ebpm completion bash), or save it in /etc/bash_completion.d/ebpm\n${shScript(cmds)}complete -o filenames -F _ebpm ebpm\n`;
    case 'zsh':
      return `#compdef ebpm\n# ebpm completion for zsh: source <(ebpm completion zsh) after compinit\nautoload -U +X bashcompinit && bashcompinit\n${shScript(cmds)}complete -F _ebpm ebpm\n`;
    case 'fish':
      return fishScript(cmds);
    default:
      return assertNever(shell, 'shell');
  }
}
