/** `Table`: a list (`ebpm ls`, `ebpm search`) laid out by `layoutTable`, the header in bold. */
import { Box, Text } from 'ink';
import { layoutTable } from '../format.js';

export interface TableProps {
  readonly header: readonly string[];
  readonly rows: readonly (readonly string[])[];
}

export function Table(props: TableProps) {
  const [head, ...lines] = layoutTable(props.header, props.rows);
  return (
    <Box flexDirection="column">
      <Text bold>{head}</Text>
      {lines.map((l, i) => (
        // biome-ignore lint/suspicious/noArrayIndexKey: rows are plain text with no state of their own
        <Text key={i} wrap="truncate">
          {l}
        </Text>
      ))}
    </Box>
  );
}
