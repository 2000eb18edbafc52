// mailauth ships no types for its header parser; this is the part of its shape we read.
declare module 'mailauth/lib/parse-dkim-headers.js' {
  export interface ParsedAuthHeaderEntry {
    value: string;
    comment?: string;
    [property: string]: unknown;
  }
  export interface ParsedAuthHeader {
    header: string;
    /** The first key-only part: for Authentication-Results, the authserv-id (and version). */
    value?: string;
    [method: string]: ParsedAuthHeaderEntry | ParsedAuthHeaderEntry[] | string | undefined;
  }
  export default function parseDkimHeaders(header: string): { parsed: ParsedAuthHeader; original: Buffer | string };
}
