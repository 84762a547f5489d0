/**
 * `RunTable`: the live view of `ebpm run` on a terminal. It only renders what it is given: the
 * attach summary, the header, the newest rows (already laid out), the counts and the latest
 * sample block.
 */
import { Box, Text } from 'ink';

export interface RunTableProps {
  /** The one-line attach summary. */
  readonly title: string;
  /** The header line (`TIME     PID …`), cut to the width as the rows are, or undefined when the package prints no events. */
  readonly header?: string;
  /** The newest rows, oldest first, each one line already aligned and cut to the width. */
  readonly rows: readonly string[];
  readonly events: number;
  readonly lost: number;
  /** The latest sample maps' text (histograms), if any. */
  readonly sample?: string;
  /** Terminal columns (a pty without a size reports 0: then 80). */
  readonly width: number;
}

export function RunTable(props: RunTableProps) {
  return (
    <Box flexDirection="column" width={props.width}>
      <Text dimColor wrap="truncate">
        {props.title}
      </Text>
      {props.header !== undefined && <Text bold>{props.header}</Text>}
      {props.rows.map((r, i) => (
        // biome-ignore lint/suspicious/noArrayIndexKey: rows are plain text with no state of their own
        <Text key={i} wrap="truncate">
          {r}
        </Text>
      ))}
      {props.sample !== undefined && <Text>{props.sample}</Text>}
      <Text dimColor>{`${props.events} events, ${props.lost} lost · Ctrl-C to stop`}</Text>
    </Box>
  );
}
