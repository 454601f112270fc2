/** Whether a `uname -r` style release ("6.1.0-56-cloud-amd64") is at least "MAJOR.MINOR". */
export function kernelAtLeast(release: string, min: string): boolean {
  const [major = 0, minor = 0] = release.split(/[.-]/).map(Number);
  const [wantMajor = 0, wantMinor = 0] = min.split('.').map(Number);
  return major > wantMajor || (major === wantMajor && minor >= wantMinor);
}
