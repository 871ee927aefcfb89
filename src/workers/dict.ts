/** Dense ids for the group keys and categories of one batch (the workers' string dictionary). */
/** Dictionary of strings to dense ids for one batch. */
export class Dict {
  readonly ids = new Map<string, number>();
  readonly names: string[] = [];
  private readonly byType = new Map<string, Map<string, number>>();
  /**
   * Id of the pair (a, b), named `${a}\0${b}`: a small map per `a` (sensor types are few),
   * so a known pair costs two lookups and no string building.
   */
  id2(a: string, b: string): number {
    let inner = this.byType.get(a);
    if (inner === undefined) this.byType.set(a, (inner = new Map()));
    let id = inner.get(b);
    if (id === undefined) {
      id = this.names.length;
      this.names.push(a + '\u0000' + b);
      inner.set(b, id);
    }
    return id;
  }
  id(s: string): number {
    let id = this.ids.get(s);
    if (id === undefined) {
      id = this.names.length;
      this.ids.set(s, id);
      this.names.push(s);
    }
    return id;
  }
}
