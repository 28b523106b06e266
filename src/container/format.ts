// Output shaping shared by `ps`, `inspect`, `volume ls`: docker's tables, a small subset of Go
// templates ({{.Field}}, {{json .}}, {{.Label "k"}}, a leading "table"), and inspect's JSON.
import { humanDuration, type ContainerSummary } from './manager';
import type { ContainerRecord } from './types';

/** Left-aligned columns separated by three spaces, like docker's tabwriter output. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join('   ').trimEnd();
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}

/** Render `template` for one object: {{.Key}}, {{json .}}, {{json .Key}}, {{.Label "k"}}, {{index .Map "k"}}. */
export function renderTemplate(template: string, data: Record<string, unknown>): string {
  const text = template.replace(/\\t/g, '\t').replace(/\\n/g, '\n');
  return text.replace(/\{\{\s*(.*?)\s*\}\}/g, (_m, expr: string) => {
    const json = /^json\s+(.+)$/.exec(expr);
    if (json) return JSON.stringify(lookup(data, json[1]));
    const label = /^\.Label\s+"([^"]*)"$/.exec(expr);
    if (label) return String((data.LabelsMap as Record<string, string> | undefined)?.[label[1]] ?? '');
    const index = /^index\s+(\S+)\s+"([^"]*)"$/.exec(expr);
    if (index) return stringify((lookup(data, index[1]) as Record<string, unknown> | undefined)?.[index[2]]);
    return stringify(lookup(data, expr));
  });
}

function lookup(data: unknown, expr: string): unknown {
  if (expr === '.') return data;
  let cur: unknown = data;
  for (const key of expr.replace(/^\./, '').split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[key];
  }
  return cur;
}

function stringify(v: unknown): string {
  if (v === undefined || v === null) return '<no value>';
  if (typeof v === 'object') return Array.isArray(v) ? `[${v.join(' ')}]` : JSON.stringify(v);
  return String(v);
}

export function ago(iso: string, now = Date.now()): string {
  return `${humanDuration(now - Date.parse(iso))} ago`;
}

/** The fields `ps --format` knows (docker's names). */
export function psFields(c: ContainerSummary, noTrunc: boolean): Record<string, unknown> {
  const command = noTrunc ? c.command : truncate(c.command, 20);
  return {
    ID: noTrunc ? c.id : c.id.slice(0, 12),
    Image: c.image,
    Command: JSON.stringify(command),
    CreatedAt: new Date(c.created).toString(),
    RunningFor: ago(c.created),
    Ports: '',
    State: c.status,
    Status: c.statusText,
    Size: '',
    Names: c.name,
    Labels: Object.entries(c.labels).map(([k, v]) => `${k}=${v}`).join(','),
    LabelsMap: c.labels,
    Mounts: c.mounts.join(','),
    Networks: '',
  };
}

function truncate(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}

/** docker inspect's shape, from the record. */
export function inspectView(rec: ContainerRecord, paths: { upper: string; lowers: string[]; rootfs: string; work: string }): Record<string, unknown> {
  const { Layers: _layers, Spec: spec, ...rest } = rec;
  return {
    ...rest,
    State: { ...rec.State },
    ResolvConfPath: rec.LogPath.replace(/[^/]+$/, 'resolv.conf'),
    HostnamePath: rec.LogPath.replace(/[^/]+$/, 'hostname'),
    HostsPath: rec.LogPath.replace(/[^/]+$/, 'hosts'),
    Driver: 'overlay2',
    Platform: 'linux',
    GraphDriver: {
      Name: 'overlay2',
      Data: {
        LowerDir: paths.lowers.join(':'),
        UpperDir: paths.upper,
        WorkDir: paths.work,
        MergedDir: paths.rootfs,
      },
    },
    NetworkSettings: { Networks: {}, Ports: {}, SandboxKey: '' },
    AppArmorProfile: '',
    ProcessLabel: '',
    MountLabel: '',
    ExecIDs: null,
    OciSpec: spec,
  };
}
