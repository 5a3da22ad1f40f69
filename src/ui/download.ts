/** Saves bytes or text as a file download (an object URL on a temporary link; nothing leaves the machine). */
export function downloadBlob(fileName: string, blob: Blob): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = fileName;
  a.rel = 'noopener';
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** Reads dropped or chosen files into the {name, bytes} list the model reader takes. */
export async function readFiles(files: ArrayLike<File>): Promise<{ name: string; bytes: Uint8Array }[]> {
  return Promise.all(Array.from(files, async (f) => ({ name: f.name, bytes: new Uint8Array(await f.arrayBuffer()) })));
}
