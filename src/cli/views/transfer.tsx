/**
 * `TransferView`: the live view of `ebpm push` and `ebpm pull`. It renders the state it is
 * given: a spinner while the reference resolves, then one progress bar per blob (bytes and
 * rate) and a total bar. Finished blobs move into `<Static>` so they print once.
 */
import { Box, Static, Text } from 'ink';
import { shortDigest } from '../../core/digest.js';
import { bar, formatBytes, formatRate, SPINNER, transferTotals, type BlobState, type TransferState } from '../format.js';

export interface TransferViewProps {
  readonly verb: 'push' | 'pull';
  readonly state: TransferState;
  /** Milliseconds since the transfer started moving bytes (for rates). */
  readonly elapsedMs: number;
  /** Spinner frame counter. */
  readonly frame: number;
  readonly width: number;
}

const BAR = 24;

function BlobLine(props: { blob: BlobState; elapsedMs: number; labelWidth: number }) {
  const b = props.blob;
  const label = b.label.length > props.labelWidth ? `${b.label.slice(0, props.labelWidth - 1)}…` : b.label.padEnd(props.labelWidth);
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
  const finished = s.blobs.filter((b) => b.state !== 'active');
  const active = s.blobs.filter((b) => b.state === 'active');
  const total = transferTotals(s);
  return (
    <Box flexDirection="column">
      <Static items={finished.map((b) => ({ ...b, key: b.digest }))}>
        {(b) => <BlobLine key={b.key} blob={b} elapsedMs={props.elapsedMs} labelWidth={labelWidth} />}
      </Static>
      {s.resolving !== undefined && (
        <Text>
          <Text color="yellow">{SPINNER[props.frame % SPINNER.length]}</Text>
          {` resolving ${s.resolving}`}
        </Text>
      )}
      {active.map((b) => (
        <BlobLine key={b.digest} blob={b} elapsedMs={props.elapsedMs} labelWidth={labelWidth} />
      ))}
      {s.blobs.length > 0 && (
        <Text
          bold
        >{`${props.verb === 'push' ? 'pushing' : 'pulling'} ${s.resolved?.ref ?? ''}  ${bar(total.size === 0 ? 1 : total.bytes / total.size, BAR)}  ${formatBytes(total.bytes)} / ${formatBytes(total.size)}  ${formatRate(total.bytes, props.elapsedMs)}`}</Text>
      )}
    </Box>
  );
}
