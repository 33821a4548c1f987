import type { CommandTable } from './command.js';

/** The shells `hearth completion <shell>` writes a script for. */
export const completionShells = ['bash', 'zsh', 'fish'] as const;
export type CompletionShell = (typeof completionShells)[number];

/** Words completed after `hearth` besides the resources. */
const extraTopWords = ['completion', 'help'];

/**
 * A completion script for `shell`, made from the command table: resources, then their verbs, then
 * the verb's options (and `-o`). Load it with `eval "$(hearth completion bash)"` (or `zsh`), or in
 * fish `hearth completion fish | source`.
 */
export function completionScript(shell: CompletionShell, commands: CommandTable): string {
  const top = [...Object.keys(commands), ...extraTopWords].join(' ');
  const verbsOf = (resource: string): string => Object.keys(commands[resource] ?? {}).join(' ');
  const pairs = Object.entries(commands).flatMap(([resource, table]) =>
    Object.entries(table).map(([verb, command]) => ({ resource, verb, options: [...(command.options ?? []), '-o'].join(' ') })),
  );
  const shells = completionShells.join(' ');
  switch (shell) {
    case 'bash':
      return `_hearth() {
  local cur=\${COMP_WORDS[COMP_CWORD]} words=""
  if [ "$COMP_CWORD" -eq 1 ]; then words="${top}"
  elif [ "$COMP_CWORD" -eq 2 ]; then
    case "\${COMP_WORDS[1]}" in
${Object.keys(commands)
  .map((resource) => `    ${resource}) words="${verbsOf(resource)}" ;;`)
  .join('\n')}
    completion) words="${shells}" ;;
    esac
  else
    case "\${COMP_WORDS[1]} \${COMP_WORDS[2]}" in
${pairs.map((pair) => `    "${pair.resource} ${pair.verb}") words="${pair.options}" ;;`).join('\n')}
    esac
  fi
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -F _hearth hearth
`;
    case 'zsh':
      return `#compdef hearth
_hearth() {
  local -a candidates
  if (( CURRENT == 2 )); then candidates=(${top})
  elif (( CURRENT == 3 )); then
    case $words[2] in
${Object.keys(commands)
  .map((resource) => `      ${resource}) candidates=(${verbsOf(resource)}) ;;`)
  .join('\n')}
      completion) candidates=(${shells}) ;;
    esac
  else
    case "$words[2] $words[3]" in
${pairs.map((pair) => `      "${pair.resource} ${pair.verb}") candidates=(${pair.options}) ;;`).join('\n')}
    esac
  fi
  compadd -- $candidates
}
compdef _hearth hearth
`;
    case 'fish':
      return [
        '# hearth completion fish | source',
        'function __hearth_at_word; test (count (commandline -opc)) -eq $argv[1]; end',
        'function __hearth_after; set -l w (commandline -opc); test (count $w) -ge 3; and test "$w[2]" = $argv[1]; and test "$w[3]" = $argv[2]; end',
        'function __hearth_resource; set -l w (commandline -opc); test (count $w) -eq 2; and test "$w[2]" = $argv[1]; end',
        'complete -c hearth -f',
        `complete -c hearth -n '__hearth_at_word 1' -a '${top}'`,
        ...Object.keys(commands).map(
          (resource) => `complete -c hearth -n '__hearth_resource ${resource}' -a '${verbsOf(resource)}'`,
        ),
        `complete -c hearth -n '__hearth_resource completion' -a '${shells}'`,
        ...pairs.map((pair) => `complete -c hearth -n '__hearth_after ${pair.resource} ${pair.verb}' -a '${pair.options}'`),
        '',
      ].join('\n');
  }
}
