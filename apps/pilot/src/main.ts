/**
 * meshwork-pilot entry point. The pilot is not built yet: it says so and exits 2 (the
 * workspace contract for deployables whose issue has not landed).
 */
process.stderr.write('meshwork-pilot: not implemented yet\n');
process.exitCode = 2;
