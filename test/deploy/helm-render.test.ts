// The stand-in for `helm template` renders what the chart uses and refuses the rest, so that a
// chart edit beyond it fails here instead of passing on a wrong rendering.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sandboxDir } from '../helpers/cli.js';
import { renderChart } from './helm-render.js';

function chart(template: string, values = 'a: {b: 1}\nlist: [x, y]\nempty: ""\n'): string {
  const dir = sandboxDir('helm-render');
  mkdirSync(join(dir, 'templates'));
  writeFileSync(join(dir, 'Chart.yaml'), 'apiVersion: v2\nname: t\nversion: 0.1.0\nappVersion: "1.0"\n');
  writeFileSync(join(dir, 'values.yaml'), values);
  writeFileSync(join(dir, 'templates', 't.yaml'), template);
  return dir;
}

const render = (template: string, values?: string) => renderChart(chart(template, values), { name: 'r', namespace: 'n' });

describe('renderChart', () => {
  it('trims, ranges, defaults and indents as Helm does', () => {
    const t = [
      'kind: T',
      'name: {{ .Release.Name }}-{{ .Values.empty | default .Chart.AppVersion }}',
      'items:',
      '{{- range .Values.list }}',
      '  - {{ . | quote }}',
      '{{- end }}',
      'a:',
      '  {{- toYaml .Values.a | nindent 2 }}',
      '{{- if not .Values.empty }}',
      'empty: true',
      '{{- else }}',
      'empty: false',
      '{{- end }}',
    ].join('\n');
    expect(render(t)).toEqual([{ kind: 'T', name: 'r-1.0', items: ['x', 'y'], a: { b: 1 }, empty: true }]);
  });

  it('refuses what it does not implement, and missing values', () => {
    expect(() => render('x: {{ printf "%s" .Values.a }}')).toThrow('unsupported function: printf');
    expect(() => render('{{- range $i, $v := .Values.list }}{{ end }}')).toThrow('unsupported action: {{ range $i, $v := .Values.list }}');
    expect(() => render('x: {{ .Values.nothing }}')).toThrow('{{ .Values.nothing }}: no value');
    expect(() => render('{{- if .Values.a }}x: 1{{- else if .Values.b }}x: 2{{- end }}')).toThrow('unsupported action: {{ else if .Values.b }}');
  });
});
