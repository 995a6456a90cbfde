import { Test } from '@nestjs/testing';
import { MeshModule } from './mesh.module';

describe('MeshModule', () => {
  it('compiles', async () => {
    const m = await Test.createTestingModule({ imports: [MeshModule] }).compile();
    expect(m.get(MeshModule)).toBeInstanceOf(MeshModule);
  });
});
