import { Test } from '@nestjs/testing';
import { FramesModule } from './frames.module';

describe('FramesModule', () => {
  it('compiles', async () => {
    const m = await Test.createTestingModule({ imports: [FramesModule] }).compile();
    expect(m.get(FramesModule)).toBeInstanceOf(FramesModule);
  });
});
