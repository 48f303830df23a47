/**
 * meshwork-citadel entry point. The citadel is not built yet: it says so and exits 2 (the
 * workspace contract for deployables whose issue has not landed).
 */
process.stderr.write('meshwork-citadel: not implemented yet\n');
process.exitCode = 2;
