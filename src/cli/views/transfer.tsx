/**
 * `TransferView`: the live view of `ebpm push` and `ebpm pull`. It renders the state it is
 * given: a spinner while the reference resolves, then one progress bar per blob (bytes and
 * rate) and a total bar. Every blob keeps its row, in `transferRows` order, until the end: rows
 * moved into ink's `<Static>` as they finished would be printed by position, and uploads
 * finishing out of order printed one twice and dropped another.
 */
import { Box, Text } from 'ink';
import { shortDigest } from '../../core/digest.js';
import { bar, cut, formatBytes, formatRate, SPINNER, transferRows, transferTotals, type BlobState, type TransferState } from '../format.js';

export interface TransferViewProps {
  readonly verb: 'push' | 'pull';
  readonly state: TransferState;
  /** Milliseconds since the transfer started moving bytes (for rates). */
  readonly elapsedMs: number;
  /** Spinner frame counter. */
  readonly frame: number;
  readonly width: number;
  /** Terminal rows: the view stays shorter, as ink clears the whole screen for a frame that is not. */
  readonly height: number;
  /** The last frame, which stays on the terminal: totals without a rate. */
  readonly final?: boolean;
}

const BAR = 24;

function BlobLine(props: { blob: BlobState; elapsedMs: number; labelWidth: number }) {
  const b = props.blob;
  const label = cut(b.label, props.labelWidth).padEnd(props.labelWidth);
  const tail =
    b.state === 'skipped'
      ? 'exists'
      : `${formatBytes(b.bytes)} / ${formatBytes(b.size)}${b.state === 'active' ? `  ${formatRate(b.bytes, props.elapsedMs)}` : ''}`;
  return (
    <Text wrap="truncate">
      {`${shortDigest(b.digest)}  ${label}  `}
      <Text color={b.state === 'active' ? 'cyan' : 'green'}>{bar(b.size === 0 ? 1 : b.bytes / b.size, BAR)}</Text>
      {`  ${tail}`}
    </Text>
  );
}

export function TransferView(props: TransferViewProps) {
  const s = props.state;
  const labelWidth = Math.max(8, Math.min(32, props.width - BAR - 60));
  const total = transferTotals(s);
  const rate = props.final ? '' : `  ${formatRate(total.bytes, props.elapsedMs)}`;
  // Less the spinner's, the total's and the cursor's lines.
  const { rows, more } = transferRows(s, props.height - 3);
  return (
    <Box flexDirection="column">
      {s.resolving !== undefined && (
        <Text>
          <Text color="yellow">{SPINNER[props.frame % SPINNER.length]}</Text>
          {` resolving ${s.resolving}`}
        </Text>
      )}
      {rows.map((b) => (
        <BlobLine key={b.digest} blob={b} elapsedMs={props.elapsedMs} labelWidth={labelWidth} />
      ))}
      {more > 0 && <Text>{`… and ${more} more`}</Text>}
      {s.blobs.length > 0 && (
        <Text
          bold
        >{`${props.verb === 'push' ? 'pushing' : 'pulling'} ${s.resolved?.ref ?? ''}  ${bar(total.size === 0 ? 1 : total.bytes / total.size, BAR)}  ${formatBytes(total.bytes)} / ${formatBytes(total.size)}${rate}`}</Text>
      )}
    </Box>
  );
}
