/** One text of a corpus and the group it belongs to (a president, a mail folder, …). */
export interface Document {
  id: string;
  group: string;
  text: string;
}

/** One simulated device's local data: sentences as written, each tokenizing to one sentence. */
export interface Client {
  id: string;
  texts: string[];
}
