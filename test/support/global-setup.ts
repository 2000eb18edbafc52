// Integration tier global setup (filled in with the database template work).
export default async function setup(): Promise<void> {}
